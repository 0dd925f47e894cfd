import { enumObject } from './codes.js';

/**
 * The RO ledger: its kinds of line and which lines each market event makes. The indexer's projection writes
 * these lines into ledger_entries, billing's reconciliation recomputes them from the chain's logs and compares:
 * both call ledgerLinesOf, so they cannot disagree on the mapping. The migration's CHECK on ledger_entries.kind
 * lists the same kinds (libs/db/src/ledger-kinds.spec.ts reads it back from a migrated database).
 */
export const LEDGER_KINDS = [
  'DEPOSIT',
  'WITHDRAWAL',
  'ESCROW',
  'LOCK',
  'LOCK_RELEASED',
  'DISPUTE',
  'PAYOUT',
  'FEE',
  'REFUND',
  // the imaging exchange (StudyCustody): its own balances, the retrieval fee escrowed at request and split at grant/renewal
  'EXCHANGE_DEPOSIT',
  'EXCHANGE_WITHDRAWAL',
  'LEASE_ESCROW',
  'LEASE_PAYMENT',
  'LEASE_PROTOCOL_FEE',
  'LEASE_STORAGE_SHARE',
  'LEASE_REFUND',
  'LEASE_INCOME',
] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

export const LedgerKind = enumObject(LEDGER_KINDS);

export const LEDGER_KIND_DESCRIPTION =
  'DEPOSIT/WITHDRAWAL move tokens in/out of the market; ESCROW = maxBounty set aside at posting; LOCK = bounty locked at claim; ' +
  'LOCK_RELEASED = lease expired; DISPUTE = the locked bounty of a disputed study; PAYOUT/FEE/REFUND = the split at settlement ' +
  'or dispute resolution (or REFUND of a cancelled study). Exchange (StudyCustody, its own balances): EXCHANGE_DEPOSIT/EXCHANGE_WITHDRAWAL; ' +
  "LEASE_ESCROW = the requester's retrieval fee set aside at a lease request (and a renewal's charge, paid at once); " +
  'LEASE_PAYMENT/LEASE_PROTOCOL_FEE/LEASE_STORAGE_SHARE = its split at grant or renewal (to the custodian, the treasury, the storage ' +
  "holders), on the requester's account; LEASE_REFUND = a denied or cancelled request; LEASE_INCOME = the custodian's share, on its account";

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

/** The market and exchange events that make ledger lines (StudyCustody's Deposited/Withdrawn as the decoder names them). */
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
  'ExchangeDeposited',
  'ExchangeWithdrawn',
  'LeaseRequested',
  'LeaseFeePaid',
  'LeaseDenied',
  'LeaseRequestCancelled',
  'LeaseRenewed',
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

/** What an exchange line needs to know of the lease from its request (the later events do not all carry it). */
export interface LeaseBefore {
  requester: string;
  studyId: string;
  /** the retrieval fee snapshotted at request */
  fee: bigint | string;
}

/** Exchange events whose lines need the lease as requested (LeaseRequested itself carries everything). */
export const needsLeaseBefore = (eventName: string): boolean =>
  eventName === 'LeaseFeePaid' || eventName === 'LeaseDenied' || eventName === 'LeaseRequestCancelled' || eventName === 'LeaseRenewed';

type Args = Readonly<Record<string, unknown>>;

/**
 * The ledger lines of one decoded market or exchange event (none for events outside the ledger). For the events of
 * needsStudyBefore, `before` is the study before the event, for those of needsLeaseBefore the lease as requested;
 * without it (an unknown study or lease) they make no line.
 */
export function ledgerLinesOf(event: { name: string; args: Args }, before?: StudyBefore | LeaseBefore | null): LedgerLine[] {
  const a = event.args;
  const s = (k: string) => String(a[k]);
  const amount = (v: unknown) => BigInt(String(v ?? 0));
  const studyId = typeof a.studyId === 'string' ? a.studyId : null;
  const study = needsStudyBefore(event.name) ? (before as StudyBefore | null | undefined) : null;
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
      return study ? [line(study.ro, 'LOCK_RELEASED', study.lockedBounty, s('radiologist'))] : [];
    case 'StudyDisputed':
      return study ? [line(s('ro'), 'DISPUTE', study.lockedBounty, study.radiologist)] : [];
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
      return exchangeLinesOf(event.name, a, before as LeaseBefore | null | undefined);
  }
}

/**
 * StudyCustody's lines. Every lease line is on an RO's principal account (where the contract keeps its balance) and
 * names the study. A grant and a renewal both end in LeaseFeePaid, split from the escrow: a renewal's charge is
 * debited from the requester's balance in the same transaction, so LeaseRenewed makes the LEASE_ESCROW line it is paid from.
 */
function exchangeLinesOf(name: string, a: Args, lease: LeaseBefore | null | undefined): LedgerLine[] {
  const s = (k: string) => String(a[k]);
  const line = (account: string, kind: LedgerKind, value: unknown, studyId: string | null, counterparty: string | null = null) => ({
    account,
    kind,
    amount: BigInt(String(value ?? 0)),
    studyId,
    counterparty,
  });
  switch (name) {
    case 'ExchangeDeposited':
      return [line(s('account'), 'EXCHANGE_DEPOSIT', a.amount, null)];
    case 'ExchangeWithdrawn':
      return [line(s('account'), 'EXCHANGE_WITHDRAWAL', a.amount, null)];
    case 'LeaseRequested':
      return [line(s('requester'), 'LEASE_ESCROW', a.fee, s('studyId'))];
  }
  if (!lease || !needsLeaseBefore(name)) return [];
  switch (name) {
    case 'LeaseRenewed':
      return [line(lease.requester, 'LEASE_ESCROW', lease.fee, lease.studyId, s('custodian'))];
    case 'LeaseFeePaid':
      return [
        line(lease.requester, 'LEASE_PAYMENT', a.toCustodian, lease.studyId, s('custodian')),
        line(lease.requester, 'LEASE_PROTOCOL_FEE', a.protocolFee, lease.studyId, s('treasury')),
        line(lease.requester, 'LEASE_STORAGE_SHARE', a.storageShare, lease.studyId),
        line(s('custodian'), 'LEASE_INCOME', a.toCustodian, lease.studyId, lease.requester),
      ];
    case 'LeaseDenied':
      return [line(lease.requester, 'LEASE_REFUND', a.refund, lease.studyId, s('custodian'))];
    default: // LeaseRequestCancelled
      return [line(lease.requester, 'LEASE_REFUND', a.refund, lease.studyId)];
  }
}
