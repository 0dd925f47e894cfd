// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/**
 * @title BountyMath
 * @notice The dynamic bounty formula. It MUST stay identical to `computeBounty` in libs/domain/src/bounty.ts
 * (and to the SQL worklist query); contracts/test/bounty-agreement.test.ts checks that they agree.
 *
 *   hours  = floor(waitingSeconds / 3600)
 *   raw    = floor(base × difficultyBps × urgencyBps × (10000 + escalationBpsPerHour × hours) / 10^12)
 *   bounty = min(raw, maxBounty)
 *
 * @dev All multiplications happen before the single division so the rounding is the same everywhere.
 * Checked arithmetic: with the bounds of IncentiveParameters the product stays below 2^256 for any waiting
 * time below ~10^40 years, but absurd inputs passed to a view (e.g. `quoteBounty`) revert with a panic
 * instead of wrapping around.
 */
library BountyMath {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant DIVISOR = 1e12; // BPS³
    uint256 internal constant SECONDS_PER_HOUR = 3600;

    function compute(
        uint256 base,
        uint256 difficultyBps,
        uint256 urgencyBps,
        uint256 escalationBpsPerHour,
        uint256 waitingSeconds,
        uint256 maxBounty
    ) internal pure returns (uint256) {
        uint256 hoursWaited = waitingSeconds / SECONDS_PER_HOUR;
        uint256 raw = (base * difficultyBps * urgencyBps * (BPS + escalationBpsPerHour * hoursWaited)) / DIVISOR;
        return raw < maxBounty ? raw : maxBounty;
    }
}
