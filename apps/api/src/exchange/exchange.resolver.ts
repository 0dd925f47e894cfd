import { Args, Context, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { CurrentUser, Public, Roles, type AuthUser, type GqlContext } from '../common/access.js';
import { PreparedTransaction, toPrepared } from '../common/graphql/index.js';
import {
  CustodyRecord,
  ExchangeKey,
  ExchangeLease,
  ExchangeRo,
  LeaseAccessRecord,
  LeasedStudy,
  toLeaseAccessRecord,
  toLeasedStudy,
} from './exchange.models.js';
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

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Query(() => LeasedStudy, {
    description:
      "A granted lease's package, for the requesting RO's members while the lease runs (chain time): LEASE_NOT_GRANTED, " +
      "CUSTODY_REVOKED (the study's patient revoked its custody), LEASE_EXPIRED or FORBIDDEN otherwise. Every fetch and refused attempt is written to the access log the custodian lists.",
  })
  async leasedStudy(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the requesting RO's id" }) roId: string,
    @Args('leaseId', { description: 'the StudyCustody lease ID' }) leaseId: string,
  ): Promise<LeasedStudy> {
    return toLeasedStudy(await this.exchange.leasedStudy({ address: user.address, roles: ctx.req.roles }, roId, leaseId));
  }

  @Roles('RO_DEPOSITOR', 'RO_BILLING', 'ADMIN')
  @Query(() => [LeaseAccessRecord], {
    description: 'Who fetched (or tried to fetch, e.g. after expiry) lease packages of a study the RO holds, oldest first.',
  })
  async leaseAccessLog(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the custodian RO's id" }) roId: string,
    @Args('studyId') studyId: string,
  ): Promise<LeaseAccessRecord[]> {
    return (await this.exchange.leaseAccessLog({ address: user.address, roles: ctx.req.roles }, roId, studyId)).map(toLeaseAccessRecord);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description: "StudyCustody.requestLease for your wallet (an account of your exchange RO): the fee is escrowed from the RO's balance.",
  })
  async prepareRequestStudyLease(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the requesting RO's id" }) roId: string,
    @Args('studyId') studyId: string,
    @Args('keyId', { description: "one of the RO's live RoDirectory keys: the lease key is sealed to it" }) keyId: string,
    @Args('periodSeconds', { type: () => Int, description: '5 minutes to 365 days' }) periodSeconds: number,
    @Args('maxRenewals', { type: () => Int, nullable: true, description: 'renewals the custodian may charge later (0 to 12, default 0)' })
    maxRenewals: number | null,
  ): Promise<PreparedTransaction> {
    const caller = { address: user.address, roles: ctx.req.roles };
    return toPrepared(await this.exchange.prepareRequest(caller, roId, studyId, keyId, periodSeconds, maxRenewals ?? 0));
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description: 'StudyCustody.cancelLeaseRequest: the requester withdraws an unanswered request (refund).',
  })
  async prepareCancelLeaseRequest(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId') roId: string,
    @Args('leaseId') leaseId: string,
  ): Promise<PreparedTransaction> {
    return toPrepared(
      await this.exchange.prepareLeaseCall({ address: user.address, roles: ctx.req.roles }, roId, 'cancelLeaseRequest', leaseId),
    );
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, { description: 'StudyCustody.denyLease: the custodian refuses a request (full refund).' })
  async prepareDenyLease(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId') roId: string,
    @Args('leaseId') leaseId: string,
  ): Promise<PreparedTransaction> {
    return toPrepared(await this.exchange.prepareLeaseCall({ address: user.address, roles: ctx.req.roles }, roId, 'denyLease', leaseId));
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, { description: 'StudyCustody.renewLease: the custodian extends a granted lease by its period.' })
  async prepareRenewLease(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId') roId: string,
    @Args('leaseId') leaseId: string,
  ): Promise<PreparedTransaction> {
    return toPrepared(await this.exchange.prepareLeaseCall({ address: user.address, roles: ctx.req.roles }, roId, 'renewLease', leaseId));
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description: 'StudyCustody.reportMisuse: the custodian reports an account of the lessee for use of an expired lease (once per lease).',
  })
  async prepareReportMisuse(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId') roId: string,
    @Args('leaseId') leaseId: string,
    @Args('account', { description: 'the wallet that used the lease after expiry (see leaseAccessLog)' }) account: string,
  ): Promise<PreparedTransaction> {
    return toPrepared(await this.exchange.prepareReportMisuse({ address: user.address, roles: ctx.req.roles }, roId, leaseId, account));
  }
}
