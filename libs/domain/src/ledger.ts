import { enumObject } from './codes.js';

/**
 * The RO ledger: its kinds of line and which lines each market event makes. The indexer's projection writes
 * these lines into ledger_entries, billing's reconciliation recomputes them from the chain's logs and compares:
 * both call ledgerLinesOf, so they cannot disagree on the mapping. The migration's CHECK on ledger_entries.kind
 * lists the same kinds (libs/db/src/ledger-kinds.spec.ts reads it back from a migrated database).
 */
export const LEDGER_KINDS = ['DEPOSIT', 'WITHDRAWAL', 'ESCROW', 'LOCK', 'LOCK_RELEASED', 'DISPUTE', 'PAYOUT', 'FEE', 'REFUND'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

export const LedgerKind = enumObject(LEDGER_KINDS);

export const LEDGER_KIND_DESCRIPTION =
  'DEPOSIT/WITHDRAWAL move tokens in/out of the market; ESCROW = maxBounty set aside at posting; LOCK = bounty locked at claim; ' +
  'LOCK_RELEASED = lease expired; DISPUTE = the locked bounty of a disputed study; PAYOUT/FEE/REFUND = the split at settlement ' +
  'or dispute resolution (or REFUND of a cancelled study)';

/**
 * What billing's reconciliation can find wrong when it matches an RO's ledger against the chain (the GraphQL enum
 * DiscrepancyKind is derived from this list).
 */
export const DISCREPANCY_KINDS = [
  'MISSING', // on chain (final), not in the ledger
  'NOT_ON_CHAIN', // in the ledger, no such event on chain
  'DUPLICATE', // the same chain line more than once in the ledger
  'AMOUNT_MISMATCH', // same event, different amount
  'FIELD_MISMATCH', // same event, different account / study / counterparty / block
  'PENDING', // on chain in a block that is not final yet (fewer than the configured confirmations)
  'TRANSFER_MISMATCH', // a deposit/withdrawal without the matching token Transfer (or a Transfer without one)
  'BALANCE_MISMATCH', // the ledger's flows do not lead from the opening to the closing balance/escrow on chain
  'IDENTITY_BROKEN', // the chain's own flows do not explain the balances (an event the model does not know)
] as const;
export type DiscrepancyKind = (typeof DISCREPANCY_KINDS)[number];

export const DiscrepancyKind = enumObject(DISCREPANCY_KINDS);

/** The market events that make ledger lines. */
export const LEDGER_EVENTS = [
  'Deposited',
  'Withdrawn',
  'StudyPosted',
  'StudyClaimed',
  'LeaseExpired',
  'StudyDisputed',
  'StudySettled',
  'DisputeResolved',
  'StudyCancelled',
] as const;

export interface LedgerLine {
  /** the wallet the line belongs to (the RO's, or the depositor's) */
  account: string;
  kind: LedgerKind;
  /** token base units */
  amount: bigint;
  studyId: string | null;
  /** the radiologist (LOCK, LOCK_RELEASED, DISPUTE, PAYOUT) or the treasury (FEE) */
  counterparty: string | null;
}

/** What a line needs to know of the study as it was just before the event (the event itself does not carry it). */
export interface StudyBefore {
  ro: string;
  radiologist: string | null;
  lockedBounty: bigint | string | null;
}

/** Events whose lines need the study as it was before them (LeaseExpired: its RO and lock; StudyDisputed: its lock and radiologist). */
export const needsStudyBefore = (eventName: string): boolean => eventName === 'LeaseExpired' || eventName === 'StudyDisputed';

type Args = Readonly<Record<string, unknown>>;

/**
 * The ledger lines of one decoded market event (none for events outside the ledger). For the events of
 * needsStudyBefore, `before` is the study before the event; without it (an unknown study) they make no line.
 */
export function ledgerLinesOf(event: { name: string; args: Args }, before?: StudyBefore | null): LedgerLine[] {
  const a = event.args;
  const s = (k: string) => String(a[k]);
  const amount = (v: unknown) => BigInt(String(v ?? 0));
  const studyId = typeof a.studyId === 'string' ? a.studyId : null;
  const line = (account: string, kind: LedgerKind, value: unknown, counterparty: string | null = null): LedgerLine => ({
    account,
    kind,
    amount: amount(value),
    studyId,
    counterparty,
  });
  switch (event.name) {
    case 'Deposited':
      return [line(s('account'), 'DEPOSIT', a.amount)];
    case 'Withdrawn':
      return [line(s('account'), 'WITHDRAWAL', a.amount)];
    case 'StudyPosted':
      return [line(s('ro'), 'ESCROW', a.maxBounty)];
    case 'StudyClaimed':
      return [line(s('ro'), 'LOCK', a.bounty, s('radiologist'))];
    case 'LeaseExpired':
      return before ? [line(before.ro, 'LOCK_RELEASED', before.lockedBounty, s('radiologist'))] : [];
    case 'StudyDisputed':
      return before ? [line(s('ro'), 'DISPUTE', before.lockedBounty, before.radiologist)] : [];
    // a dispute's resolution splits the escrow as a settlement does, with the same fields
    case 'StudySettled':
    case 'DisputeResolved':
      return [
        line(s('ro'), 'PAYOUT', a.payout, s('radiologist')),
        line(s('ro'), 'FEE', a.fee, s('treasury')),
        line(s('ro'), 'REFUND', a.refund),
      ];
    case 'StudyCancelled':
      return [line(s('ro'), 'REFUND', a.refund)];
    default:
      return [];
  }
}
