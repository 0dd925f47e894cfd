import { Args, Context, Int, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { CurrentUser, Roles, type AuthUser, type GqlContext } from '../common/access.js';
import { PreparedTransaction, toPrepared } from '../common/graphql/index.js';
import { AccessAlertFeed } from './access-alerts.feed.js';
import { AccessAlert, ExchangeNotificationPage, MisuseReportPage } from './exchange.models.js';
import { ExchangeAlertsService } from './exchange-alerts.service.js';

/** Expired leases from the custodian's side: misuse reports and flags, notifications, live access alerts, suspension. */
@Resolver()
export class ExchangeAlertsResolver {
  constructor(
    private readonly alerts: ExchangeAlertsService,
    private readonly feed: AccessAlertFeed,
  ) {}

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Query(() => MisuseReportPage, {
    description:
      'Accounts reported for misuse in reports your RO made (as custodian) or received (as lessee), by account: the chain-wide ' +
      "count, the DAO's threshold, whether the account is flagged, and those reports (lease, reporter, block time).",
  })
  async misuseReports(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('first', { type: () => Int, nullable: true, description: 'at most 100 (default 20)' }) first: number | null,
    @Args('after', { type: () => String, nullable: true, description: "the previous page's endCursor" }) after: string | null,
  ): Promise<MisuseReportPage> {
    return this.alerts.misuseReports({ address: user.address, roles: ctx.req.roles }, roId, first, after);
  }

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Query(() => ExchangeNotificationPage, {
    description:
      "Your RO's imaging-exchange notifications, newest first: expired uses recorded on chain and fetches refused after expiry " +
      'of leases of studies you hold, lease requests to you, misuse reports against your accounts and their flags.',
  })
  async exchangeNotifications(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('first', { type: () => Int, nullable: true, description: 'at most 200 (default 50)' }) first: number | null,
    @Args('after', { type: () => String, nullable: true, description: "the previous page's endCursor" }) after: string | null,
  ): Promise<ExchangeNotificationPage> {
    return this.alerts.notifications({ address: user.address, roles: ctx.req.roles }, roId, first, after);
  }

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Mutation(() => Int, { description: 'Marks exchange notifications read for your whole RO; answers how many were unread.' })
  async markExchangeNotificationsRead(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('ids', { type: () => [String], description: 'ids from exchangeNotifications (1 to 500)' }) ids: string[],
  ): Promise<number> {
    return this.alerts.markRead({ address: user.address, roles: ctx.req.roles }, roId, ids);
  }

  @Roles('ADMIN', 'VERIFIER')
  @Mutation(() => PreparedTransaction, {
    description:
      "RoDirectory.setSuspended for your wallet, which must hold the directory's ADMISSION_ROLE (FORBIDDEN otherwise): suspends " +
      '(or reinstates) an exchange RO, e.g. the RO of an account misuseReports shows flagged. Where the DAO timelock holds ' +
      'the role, a proposal carries the same call.',
  })
  async prepareSetRoSuspended(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('ro', { description: "the exchange RO's principal account" }) ro: string,
    @Args('suspended', { description: 'true suspends, false reinstates' }) suspended: boolean,
  ): Promise<PreparedTransaction> {
    return toPrepared(await this.alerts.prepareSetSuspended({ address: user.address, roles: ctx.req.roles }, ro, suspended));
  }

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Subscription(() => AccessAlert, {
    description:
      'Live alerts for the custodian RO over graphql-ws (connectionParams: { authorization: "Bearer <token>" }): a use after ' +
      'expiry of one of its leases recorded on chain (as soon as indexed), a fetch of its study the API refused after expiry. ' +
      "FORBIDDEN at subscribe unless you are the RO's member; at most API_MAX_FEEDS_PER_ACCOUNT at once (RATE_LIMITED); ends " +
      'with UNAUTHENTICATED when the session ends, FORBIDDEN when the membership does.',
    resolve: (alert: AccessAlert) => alert,
  })
  accessAlerts(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the custodian RO's id" }) roId: string,
  ) {
    return this.feed.subscribe({ address: user.address, roles: ctx.req.roles }, roId, ctx.req.headers?.authorization);
  }
}
