import { Inject } from '@nestjs/common';
import { Args, ArgsType, Context, Field, GraphQLISODateTime, Int, ObjectType, Query, Resolver, registerEnumType } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig } from '#config';
import { LedgerRepository } from '#db';
import { CurrentUser, type GqlContext, Roles } from '../auth/auth.guard.js';
import type { AuthUser } from '../auth/auth.service.js';
import { OpenReadError } from '../common/errors.js';
import { RoAccessService } from '../ro/ro-access.service.js';
import { LedgerTotals, ledgerTotals } from '../ledger/ledger.resolver.js';
import { enumObject } from '#domain';
import { ledgerCsv, reconciliationCsv } from './csv.js';
import { DISCREPANCY_KINDS, Discrepancy, Reconciliation, ReconciliationService } from './reconciliation.service.js';

const DiscrepancyKind = enumObject(DISCREPANCY_KINDS);
registerEnumType(DiscrepancyKind, { name: 'DiscrepancyKind' });

@ObjectType()
class ChainFlowTotals extends LedgerTotals {
  @Field({ description: 'payouts/fees credited to the RO wallets as radiologist or treasury' }) otherCredits: string;
  @Field({ description: 'token Transfers from the RO wallets to the market' }) tokenIn: string;
  @Field({ description: 'token Transfers from the market to the RO wallets' }) tokenOut: string;
}

@ObjectType()
class MarketPosition {
  @Field({ description: "sum of the RO wallets' market balanceOf" }) balance: string;
  @Field({ description: 'maxBounty of the RO studies neither settled nor cancelled' }) escrow: string;
}

@ObjectType()
class ReconciliationDiscrepancy {
  @Field(() => DiscrepancyKind) kind: string;
  @Field(() => String, { nullable: true, description: 'the ledger kind concerned (DEPOSIT, …; BALANCE or ESCROW for BALANCE_MISMATCH)' }) entryKind: string | null;
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
class ReconciliationReport {
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
  @Field({ description: 'opening.balance + deposits − withdrawals − escrowed + refunds + otherCredits == closing.balance (chain flows)' })
  balanceIdentityHolds: boolean;
  @Field({ description: 'opening.escrow + escrowed − payouts − fees − refunds == closing.escrow (chain flows)' }) escrowIdentityHolds: boolean;
  @Field(() => [ReconciliationDiscrepancy]) discrepancies: ReconciliationDiscrepancy[];
}

@ObjectType()
class MonthlyStatement {
  @Field() roId: string;
  @Field() roName: string;
  @Field({ description: 'YYYY-MM (UTC)' }) month: string;
  @Field(() => ReconciliationReport) reconciliation: ReconciliationReport;
  @Field({ description: 'the ledger of the month as CSV (README: "Billing")' }) ledgerCsv: string;
  @Field({ description: 'the reconciliation of the month as CSV' }) reconciliationCsv: string;
}

const amount = (v: bigint | null) => (v === null ? null : v.toString());
const toReport = (roId: string, r: Reconciliation): ReconciliationReport => ({
  ...r,
  roId,
  opening: { balance: r.opening.balance.toString(), escrow: r.opening.escrow.toString() },
  closing: { balance: r.closing.balance.toString(), escrow: r.closing.escrow.toString() },
  chain: { ...ledgerTotals(r.chain), otherCredits: r.chain.otherCredits.toString(), tokenIn: r.chain.tokenIn.toString(), tokenOut: r.chain.tokenOut.toString() },
  ledger: ledgerTotals(r.ledger),
  discrepancies: r.discrepancies.map((d: Discrepancy) => ({ ...d, ledgerAmount: amount(d.ledgerAmount), chainAmount: amount(d.chainAmount) })),
});

@ArgsType()
class RoPeriodArgs {
  @Field({ description: "the RO's id" }) roId: string;
  @Field(() => GraphQLISODateTime, { description: 'period start (chain time), inclusive' }) from: Date;
  @Field(() => GraphQLISODateTime, { description: 'period end (chain time), inclusive' }) to: Date;
}

/** The month `YYYY-MM` (UTC) as a closed period of chain time. */
export function monthPeriod(month: string): { from: Date; to: Date } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) throw new OpenReadError('BAD_INPUT', 'month must be YYYY-MM');
  const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  const to = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1) - 1);
  return { from, to };
}

/** Billing reconciliation and exports for an RO's billing staff (and admins). */
@Resolver()
export class BillingResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly access: RoAccessService,
    private readonly reconciler: ReconciliationService,
    private readonly ledger: LedgerRepository,
  ) {}

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => ReconciliationReport, {
    description: "Matches the RO's ledger for a period against the chain (events, token Transfers, balances) and lists every discrepancy.",
  })
  async reconciliation(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args() { roId, from, to }: RoPeriodArgs,
  ): Promise<ReconciliationReport> {
    const { ro, accounts } = await this.access.billingScope(user.address, ctx.req.roles, roId);
    return toReport(ro.id, await this.reconciler.reconcile(accounts, from, to));
  }

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => String, { description: 'The RO ledger of a period as CSV (columns: docs/api/ro-billing.md).' })
  async roLedgerCsv(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args() { roId, from, to }: RoPeriodArgs,
  ): Promise<string> {
    const { accounts } = await this.access.billingScope(user.address, ctx.req.roles, roId);
    const { fromBlock, toBlock } = await this.reconciler.periodBlocks(from, to);
    return ledgerCsv(await this.ledger.between(this.config.chainId, accounts, fromBlock, toBlock));
  }

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => String, { description: 'The reconciliation of a period as CSV (columns: docs/api/ro-billing.md).' })
  async reconciliationCsv(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args() { roId, from, to }: RoPeriodArgs,
  ): Promise<string> {
    const { accounts } = await this.access.billingScope(user.address, ctx.req.roles, roId);
    return reconciliationCsv(await this.reconciler.reconcile(accounts, from, to));
  }

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => MonthlyStatement, { description: "An RO's statement for a calendar month (UTC): reconciliation plus both CSVs." })
  async monthlyStatement(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId') roId: string,
    @Args('month', { description: 'YYYY-MM' }) month: string,
  ): Promise<MonthlyStatement> {
    const { from, to } = monthPeriod(month);
    const { ro, accounts } = await this.access.billingScope(user.address, ctx.req.roles, roId);
    const r = await this.reconciler.reconcile(accounts, from, to);
    const rows = r.toBlock >= r.fromBlock ? await this.ledger.between(this.config.chainId, accounts, r.fromBlock, r.toBlock) : [];
    return { roId: ro.id, roName: ro.name, month, reconciliation: toReport(ro.id, r), ledgerCsv: ledgerCsv(rows), reconciliationCsv: reconciliationCsv(r) };
  }
}
