import { Args, Context, Int, Query, Resolver } from '@nestjs/graphql';
import { CurrentUser, Public, Roles, type AuthUser, type GqlContext } from '../common/access.js';
import { CustodyRecord, ExchangeKey, ExchangeLease, ExchangeRo } from './exchange.models.js';
import { ExchangeService } from './exchange.service.js';

/** The imaging exchange's reads: the public RO directory and keys; leases and custody for the ROs concerned. */
@Resolver()
export class ExchangeResolver {
  constructor(private readonly exchange: ExchangeService) {}

  @Public()
  @Query(() => [ExchangeRo], { description: 'Every RO admitted to the imaging exchange, with the accounts acting for it.' })
  async roDirectory(): Promise<ExchangeRo[]> {
    return this.exchange.directory();
  }

  @Public()
  @Query(() => [ExchangeKey], { description: 'Every key an exchange RO registered (public keys), revoked and rotated ones included.' })
  async roKeys(@Args('ro', { description: "the RO's principal account" }) ro: string): Promise<ExchangeKey[]> {
    return this.exchange.keys(ro);
  }

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Query(() => [ExchangeLease], { description: "Leases the RO requested or holds the study of, newest first (the RO's own members only)." })
  async myLeases(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('first', { type: () => Int, nullable: true, description: 'at most 500 (default 100)' }) first: number | null,
  ): Promise<ExchangeLease[]> {
    return this.exchange.myLeases({ address: user.address, roles: ctx.req.roles }, roId, first);
  }

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Query(() => [ExchangeLease], { description: 'Requests for studies the RO holds, waiting for its grant or denial, newest first.' })
  async incomingLeaseRequests(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('first', { type: () => Int, nullable: true, description: 'at most 500 (default 100)' }) first: number | null,
  ): Promise<ExchangeLease[]> {
    return this.exchange.incomingRequests({ address: user.address, roles: ctx.req.roles }, roId, first);
  }

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Query(() => CustodyRecord, { description: 'The custody of a study the RO holds, with its owner history.' })
  async custodyOf(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('studyId') studyId: string,
  ): Promise<CustodyRecord> {
    return this.exchange.custodyOf({ address: user.address, roles: ctx.req.roles }, roId, studyId);
  }
}
