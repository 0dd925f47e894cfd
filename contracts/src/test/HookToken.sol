// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

interface ITokenReceiver {
    function onTokenReceived(address from, uint256 amount) external;
}

/**
 * @title HookToken (TEST ONLY)
 * @notice A hostile ERC-20 for reentrancy tests: like ERC-777 / ERC-1363 it calls the recipient back on every
 * transfer to a recipient that registered for it, handing control to the recipient in the middle of the
 * sender's function.
 */
contract HookToken is ERC20 {
    mapping(address => bool) public wantsCallback;

    constructor() ERC20("Hook Token", "HOOK") {}

    /// @notice The caller asks to be called back ({ITokenReceiver-onTokenReceived}) on every incoming transfer.
    function registerCallback() external {
        wantsCallback[msg.sender] = true;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from != address(0) && wantsCallback[to]) ITokenReceiver(to).onTokenReceived(from, value);
    }
}
