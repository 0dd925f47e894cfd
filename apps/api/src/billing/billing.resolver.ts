import { Args, Context, Query, Resolver } from '@nestjs/graphql';
import { CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { MonthlyStatement, ReconciliationReport, RoPeriodArgs } from './billing.models.js';
import { BillingService } from './billing.service.js';

/** Billing reconciliation and exports for an RO's billing staff (and admins). */
@Resolver()
export class BillingResolver {
  constructor(private readonly billing: BillingService) {}

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => ReconciliationReport, {
    description: "Matches the RO's ledger for a period against the chain (events, token Transfers, balances) and lists every discrepancy.",
  })
  async reconciliation(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args() { roId, from, to }: RoPeriodArgs,
  ): Promise<ReconciliationReport> {
    return this.billing.reconciliation({ address: user.address, roles: ctx.req.roles }, roId, from, to);
  }

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => String, { description: 'The RO ledger of a period as CSV (columns: docs/api/ro-billing.md).' })
  async roLedgerCsv(@CurrentUser() user: AuthUser, @Context() ctx: GqlContext, @Args() { roId, from, to }: RoPeriodArgs): Promise<string> {
    return this.billing.ledgerCsv({ address: user.address, roles: ctx.req.roles }, roId, from, to);
  }

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => String, { description: 'The reconciliation of a period as CSV (columns: docs/api/ro-billing.md).' })
  async reconciliationCsv(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args() { roId, from, to }: RoPeriodArgs,
  ): Promise<string> {
    return this.billing.reconciliationCsv({ address: user.address, roles: ctx.req.roles }, roId, from, to);
  }

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => MonthlyStatement, { description: "An RO's statement for a calendar month (UTC): reconciliation plus both CSVs." })
  async monthlyStatement(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId') roId: string,
    @Args('month', { description: 'YYYY-MM' }) month: string,
  ): Promise<MonthlyStatement> {
    return this.billing.monthlyStatement({ address: user.address, roles: ctx.req.roles }, roId, month);
  }
}
