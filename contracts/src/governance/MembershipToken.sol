// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/**
 * @title MembershipToken
 * @notice Voting power in the OpenRead DAO (symbol ORM). One unit per member by convention; the owner (the DAO
 * timelock once governance is handed over) admits members by minting and removes them by burning.
 *
 * @dev NON-TRANSFERABLE, on purpose: membership is earned standing in a professional community (radiologists,
 * reading organisations), not a tradeable asset. Transferable votes would let anyone buy (or flash-borrow)
 * enough weight to pass a proposal that raises fees or drains the treasury, and would let a removed member sell
 * their seat before the burn. Only mint (from 0) and burn (to 0) move balances; every transfer reverts with
 * {MembershipNonTransferable}. Delegation still works (a member may delegate to a representative), and a
 * member is self-delegated when first minted so that their votes count without an extra transaction.
 *
 * Clock: timestamps (ERC-6372 "mode=timestamp"), so voting delays and periods are in seconds.
 */
contract MembershipToken is ERC20, ERC20Permit, ERC20Votes, Ownable2Step {
    /// @notice A transfer between two accounts was attempted; membership only moves by mint and burn.
    error MembershipNonTransferable();

    constructor(address initialOwner) ERC20("OpenRead Membership", "ORM") ERC20Permit("OpenRead Membership") Ownable(initialOwner) {}

    /// @notice Admits `member` with `amount` votes (default convention: 1e18 = one member).
    function mint(address member, uint256 amount) external onlyOwner {
        _mint(member, amount);
    }

    /// @notice Removes `amount` votes from `member` (membership revoked or reduced).
    function burn(address member, uint256 amount) external onlyOwner {
        _burn(member, amount);
    }

    /// @notice ERC-6372 clock: block timestamps.
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice ERC-6372 clock: block timestamps.
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        if (from != address(0) && to != address(0)) revert MembershipNonTransferable();
        super._update(from, to, value);
        // First admission: count the new member's votes without a separate delegate transaction.
        if (from == address(0) && delegates(to) == address(0)) _delegate(to, to);
    }
}
