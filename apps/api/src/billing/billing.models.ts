import { ArgsType, Field, GraphQLISODateTime, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { DiscrepancyKind, LEDGER_KIND_DESCRIPTION, LedgerKind } from '#domain';
import { Finality } from '../indexer/index.js';
import type { Discrepancy, Reconciliation } from './reconciliation.service.js';

registerEnumType(LedgerKind, { name: 'LedgerKind', description: LEDGER_KIND_DESCRIPTION });

@ObjectType()
export class LedgerEntry {
  @Field({ description: 'the RO wallet the line belongs to' }) account: string;
  @Field(() => LedgerKind) kind: string;
  @Field({ description: 'token base units' }) amount: string;
  @Field(() => String, { nullable: true }) studyId: string | null;
  @Field(() => String, { nullable: true, description: 'radiologist (LOCK, PAYOUT) or treasury (FEE)' }) counterparty: string | null;
  @Field() txHash: string;
  @Field(() => Int) logIndex: number;
  @Field(() => Int) blockNumber: number;
  @Field(() => GraphQLISODateTime) time: Date;
  @Field(() => Int, { description: 'blocks on top of this entry' }) confirmations: number;
  @Field(() => Finality) finality: string;
}

@ObjectType({ description: 'token base units per kind of ledger line' })
export class LedgerTotals {
  @Field() deposits: string;
  @Field() withdrawals: string;
  @Field() escrowed: string;
  @Field() payouts: string;
  @Field() fees: string;
  @Field() refunds: string;
  @Field({ description: 'bounties locked at claim (inside the escrow)' }) locks: string;
  @Field({ description: 'locks released when a lease expired' }) locksReleased: string;
  @Field({ description: 'locked bounties of disputed studies' }) disputes: string;
  @Field({ description: "deposits into the exchange's own balance (StudyCustody)" }) exchangeDeposits: string;
  @Field({ description: "withdrawals from the exchange's own balance" }) exchangeWithdrawals: string;
  @Field({ description: 'retrieval fees escrowed by lease requests (and charged by renewals)' }) leaseEscrowed: string;
  @Field({ description: 'lease fees paid to the custodian RO out of the escrow' }) leasePayments: string;
  @Field({ description: 'lease protocol fees paid to the treasury out of the escrow' }) leaseProtocolFees: string;
  @Field({ description: 'lease fee shares held for storage holders' }) leaseStorageShares: string;
  @Field({ description: 'escrowed fees refunded (denied or cancelled requests)' }) leaseRefunds: string;
  @Field({ description: 'lease fees received as the custodian RO' }) leaseIncome: string;
}

/** Sums per ledger kind (missing kinds are 0) as the GraphQL totals. */
export function ledgerTotals(totals: Partial<Record<string, bigint>>): LedgerTotals {
  const t = (k: string) => (totals[k] ?? 0n).toString();
  return {
    deposits: t('DEPOSIT'),
    withdrawals: t('WITHDRAWAL'),
    escrowed: t('ESCROW'),
    payouts: t('PAYOUT'),
    fees: t('FEE'),
    refunds: t('REFUND'),
    locks: t('LOCK'),
    locksReleased: t('LOCK_RELEASED'),
    disputes: t('DISPUTE'),
    exchangeDeposits: t('EXCHANGE_DEPOSIT'),
    exchangeWithdrawals: t('EXCHANGE_WITHDRAWAL'),
    leaseEscrowed: t('LEASE_ESCROW'),
    leasePayments: t('LEASE_PAYMENT'),
    leaseProtocolFees: t('LEASE_PROTOCOL_FEE'),
    leaseStorageShares: t('LEASE_STORAGE_SHARE'),
    leaseRefunds: t('LEASE_REFUND'),
    leaseIncome: t('LEASE_INCOME'),
  };
}

@ObjectType()
export class LedgerPage {
  @Field() roId: string;
  @Field(() => [LedgerEntry]) entries: LedgerEntry[];
  @Field(() => String, { nullable: true, description: 'pass as `after` for the next page' }) endCursor: string | null;
  @Field(() => LedgerTotals, {
    description: 'over the whole history (or the period), not just this page (confirmed entries, final or pending)',
  })
  totals: LedgerTotals;
  @Field(() => LedgerTotals, { description: 'the same over FINAL entries only: what no reorg can change any more' })
  finalTotals: LedgerTotals;
}

registerEnumType(DiscrepancyKind, { name: 'DiscrepancyKind' });

@ObjectType()
export class ChainFlowTotals extends LedgerTotals {
  @Field({ description: 'payouts/fees credited to the RO wallets as radiologist or treasury (market and exchange)' }) otherCredits: string;
  @Field({ description: 'token Transfers from the RO wallets to the market and the exchange' }) tokenIn: string;
  @Field({ description: 'token Transfers from the market and the exchange to the RO wallets' }) tokenOut: string;
}

@ObjectType()
export class MarketPosition {
  @Field({ description: "sum of the RO wallets' balanceOf in the market and in the exchange (StudyCustody)" }) balance: string;
  @Field({ description: 'maxBounty of the RO studies neither settled nor cancelled, plus the fees of its lease requests not yet answered' })
  escrow: string;
}

@ObjectType()
export class ReconciliationDiscrepancy {
  @Field(() => DiscrepancyKind) kind: string;
  @Field(() => String, { nullable: true, description: 'the ledger kind concerned (DEPOSIT, …; BALANCE or ESCROW for BALANCE_MISMATCH)' })
  entryKind: string | null;
  @Field(() => String, { nullable: true }) account: string | null;
  @Field(() => String, { nullable: true }) txHash: string | null;
  @Field(() => Int, { nullable: true }) logIndex: number | null;
  @Field(() => Int, { nullable: true }) blockNumber: number | null;
  @Field(() => String, { nullable: true }) studyId: string | null;
  @Field(() => String, { nullable: true }) ledgerAmount: string | null;
  @Field(() => String, { nullable: true }) chainAmount: string | null;
  @Field() detail: string;
}

@ObjectType()
export class ReconciliationReport {
  @Field() roId: string;
  @Field(() => [String], { description: "the RO's depositor wallets" }) accounts: string[];
  @Field(() => GraphQLISODateTime) from: Date;
  @Field(() => GraphQLISODateTime) to: Date;
  @Field(() => Int, { description: 'first block of the period; opening = state after fromBlock − 1' }) fromBlock: number;
  @Field(() => Int, { description: 'last confirmed block of the period; closing = state after it' }) toBlock: number;
  @Field(() => Int) headBlock: number;
  @Field(() => Int) confirmations: number;
  @Field({
    description:
      'true when every event of the period is counted (the period ends at or below headBlock − confirmations); false: the ' +
      "period's newest blocks are not confirmed yet and their events are listed as PENDING discrepancies. Not about reorgs: see allEntriesFinal",
  })
  periodClosed: boolean;
  @Field(() => Int, { description: 'blocks at or below this are FINAL (headBlock − finality depth, at least 0): no reorg can change them' })
  finalizedThroughBlock: number;
  @Field({
    description:
      'true only when the whole period is at or below finalizedThroughBlock: every ledger line of the period is FINAL and the ' +
      'figures can no longer change. false while some lines may still be PENDING (a reorg could undo them): do not close the books yet',
  })
  allEntriesFinal: boolean;
  @Field(() => MarketPosition) opening: MarketPosition;
  @Field(() => MarketPosition) closing: MarketPosition;
  @Field(() => ChainFlowTotals, { description: "flows re-read from the chain's events" }) chain: ChainFlowTotals;
  @Field(() => LedgerTotals, { description: 'flows in the ledger' }) ledger: LedgerTotals;
  @Field({
    description:
      'opening.balance + deposits − withdrawals − escrowed + refunds + otherCredits (+ the same of the exchange: exchangeDeposits − ' +
      'exchangeWithdrawals − leaseEscrowed + leaseRefunds + leaseIncome) == closing.balance (chain flows)',
  })
  balanceIdentityHolds: boolean;
  @Field({
    description:
      'opening.escrow + escrowed − payouts − fees − refunds (+ leaseEscrowed − leasePayments − leaseProtocolFees − leaseStorageShares − ' +
      'leaseRefunds) == closing.escrow (chain flows)',
  })
  escrowIdentityHolds: boolean;
  @Field(() => [ReconciliationDiscrepancy]) discrepancies: ReconciliationDiscrepancy[];
}

@ObjectType()
export class MonthlyStatement {
  @Field() roId: string;
  @Field() roName: string;
  @Field({ description: 'YYYY-MM (UTC)' }) month: string;
  @Field(() => ReconciliationReport) reconciliation: ReconciliationReport;
  @Field({ description: 'the ledger of the month as CSV (README: "Billing")' }) ledgerCsv: string;
  @Field({ description: 'the reconciliation of the month as CSV' }) reconciliationCsv: string;
}

const amount = (v: bigint | null) => (v === null ? null : v.toString());
export const toReport = (roId: string, r: Reconciliation): ReconciliationReport => ({
  ...r,
  roId,
  opening: { balance: r.opening.balance.toString(), escrow: r.opening.escrow.toString() },
  closing: { balance: r.closing.balance.toString(), escrow: r.closing.escrow.toString() },
  chain: {
    ...ledgerTotals(r.chain),
    otherCredits: r.chain.otherCredits.toString(),
    tokenIn: r.chain.tokenIn.toString(),
    tokenOut: r.chain.tokenOut.toString(),
  },
  ledger: ledgerTotals(r.ledger),
  discrepancies: r.discrepancies.map((d: Discrepancy) => ({
    ...d,
    ledgerAmount: amount(d.ledgerAmount),
    chainAmount: amount(d.chainAmount),
  })),
});

@ArgsType()
export class RoPeriodArgs {
  @Field({ description: "the RO's id" }) roId: string;
  @Field(() => GraphQLISODateTime, { description: 'period start (chain time), inclusive' }) from: Date;
  @Field(() => GraphQLISODateTime, { description: 'period end (chain time), inclusive' }) to: Date;
}
