import { Args, Context, GraphQLISODateTime, Int, Query, Resolver } from '@nestjs/graphql';
import { CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { LedgerPage } from './billing.models.js';
import { BillingService } from './billing.service.js';

/** An RO's ledger, read from the indexed events. */
@Resolver()
export class LedgerResolver {
  constructor(private readonly billing: BillingService) {}

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => LedgerPage, {
    description:
      "An RO's deposits, postings, locks, payouts, fees and refunds over all its depositor wallets, from indexed events. Its billing staff only.",
  })
  async roLedger(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
    @Args('from', { type: () => GraphQLISODateTime, nullable: true, description: 'period start (chain time), inclusive' })
    from: Date | null,
    @Args('to', { type: () => GraphQLISODateTime, nullable: true, description: 'period end (chain time), inclusive' }) to: Date | null,
  ): Promise<LedgerPage> {
    return this.billing.roLedger({ address: user.address, roles: ctx.req.roles }, roId, first, after, from, to);
  }
}
