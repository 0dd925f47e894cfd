// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/**
 * @title OpenReadTimelock
 * @notice The stock OpenZeppelin TimelockController under OpenRead's name, so that it is compiled into an
 * artifact. It owns IncentiveParameters, StudyMarket and MembershipToken after the governance hand-over.
 * @dev Roles after hand-over (see deployGovernance): PROPOSER and CANCELLER = the governor (plus, optionally,
 * the treasury Safe as canceller guardian); EXECUTOR = the governor; no admin (the timelock administers itself).
 */
contract OpenReadTimelock is TimelockController {
    constructor(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) TimelockController(minDelay, proposers, executors, admin) {}
}
