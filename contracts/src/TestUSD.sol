// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/**
 * @title TestUSD
 * @notice A 6-decimal stand-in for a USD stablecoin on local and test chains, with ERC-2612 permits.
 * @dev The owner can mint without limit: NEVER deploy this token where it could be mistaken for money.
 */
contract TestUSD is ERC20, ERC20Permit, Ownable {
    constructor(address initialOwner) ERC20("OpenRead Test USD", "tUSD") ERC20Permit("OpenRead Test USD") Ownable(initialOwner) {}

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` base units to `to`. Only the owner.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
