// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

interface IHookToken {
    function registerCallback() external;
}

interface IMarket {
    function deposit(uint256 amount) external;
    function withdraw(uint256 amount) external;
    function postStudy(bytes32, uint8, uint32, uint8, uint8, uint128, uint64, bytes calldata) external;
}

/**
 * @title ReentrancyAttacker (TEST ONLY)
 * @notice Deposits into a market, withdraws, and when the (hook) token calls it back mid-withdraw it tries to
 * withdraw again. Re-entry errors are
 * caught, so the outer withdrawal completes and the test can check how much was really taken out.
 */
contract ReentrancyAttacker {
    IMarket private immutable _market;
    IERC20 private immutable _token;
    uint256 private _reentries;
    bool private _attacking;
    /// @notice Revert data of the last failed re-entry (empty when the re-entry succeeded or none was tried).
    bytes public lastReentryError;
    uint256 public reentrySucceeded;

    constructor(IMarket market_, IERC20 token_) {
        _market = market_;
        _token = token_;
        IHookToken(address(token_)).registerCallback();
    }

    function depositAll() external {
        uint256 amount = _token.balanceOf(address(this));
        _token.approve(address(_market), amount);
        _market.deposit(amount);
    }

    /// @param issuedUntil,issuance the study-ID issuer's signature for this contract as the RO
    function post(bytes32 studyId, uint128 maxBounty, uint64 issuedUntil, bytes calldata issuance) external {
        _market.postStudy(studyId, 0, 10000, 0, 0, maxBounty, issuedUntil, issuance);
    }

    /// @notice Withdraws `amount` and re-enters `withdraw(amount)` up to `reentries` times from the token hook.
    function attack(uint256 amount, uint256 reentries) external {
        _reentries = reentries;
        _attacking = true;
        _market.withdraw(amount);
        _attacking = false;
    }

    function onTokenReceived(address, uint256 amount) external {
        if (!_attacking || _reentries == 0) return;
        _reentries--;
        try _market.withdraw(amount) {
            reentrySucceeded++;
        } catch (bytes memory reason) {
            lastReentryError = reason;
        }
    }
}
