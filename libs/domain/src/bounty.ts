/**
 * The dynamic bounty formula. The same integer arithmetic lives in
 * contracts/src/BountyMath.sol (used by StudyMarket.claim) and in SQL (libs/db worklist query);
 * contracts/test/bounty-agreement.test.ts and libs/db tests prove the three agree.
 *
 *   hours  = floor(waitingSeconds / 3600)
 *   raw    = floor(base × difficultyBps × urgencyBps × (10000 + escalationBpsPerHour × hours) / 10^12)
 *   bounty = min(raw, maxBounty)
 *
 * All multiplications happen before the single division so the rounding is identical everywhere.
 */
export const BPS = 10_000n;
export const BOUNTY_DIVISOR = BPS * BPS * BPS; // 10^12
export const SECONDS_PER_HOUR = 3600n;

export interface BountyInputs {
  /** base bounty of the modality, token base units */
  base: bigint;
  /** difficulty (RVU) multiplier, basis points (10000 = 1.0×) */
  difficultyBps: bigint;
  /** urgency multiplier, basis points */
  urgencyBps: bigint;
  /** escalation per whole hour waited, basis points */
  escalationBpsPerHour: bigint;
  /** seconds since the study was posted (chain time) */
  waitingSeconds: bigint;
  /** RO's cap, token base units */
  maxBounty: bigint;
}

export function computeBounty(i: BountyInputs): bigint {
  const waiting = i.waitingSeconds < 0n ? 0n : i.waitingSeconds;
  const hours = waiting / SECONDS_PER_HOUR;
  const raw = (i.base * i.difficultyBps * i.urgencyBps * (BPS + i.escalationBpsPerHour * hours)) / BOUNTY_DIVISOR;
  return raw < i.maxBounty ? raw : i.maxBounty;
}

/** Fee and payout split at settlement, as StudyMarket.settle does it. */
export function splitSettlement(lockedBounty: bigint, feeBps: bigint, maxBounty: bigint) {
  const fee = (lockedBounty * feeBps) / BPS;
  return { payout: lockedBounty - fee, fee, refund: maxBounty - lockedBounty };
}
