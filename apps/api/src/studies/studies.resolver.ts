import { Args, Context, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Authenticated, CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { PreparedTransaction } from '../common/graphql/index.js';
import { ForwardRequestInput, GaslessRequest } from '../relay/index.js';
import { StudiesService } from './studies.service.js';
import { RelayedTransaction, Study, WorklistFilter, WorklistPage, WorklistSort } from './study.models.js';

@Resolver(() => Study)
export class StudiesResolver {
  constructor(private readonly studies: StudiesService) {}

  @Roles('RADIOLOGIST')
  @Query(() => WorklistPage, {
    description: 'Open studies you are eligible to claim now, with their current bounty. Keyset-paginated.',
  })
  async worklist(
    @CurrentUser() user: AuthUser,
    @Args('filter', { type: () => WorklistFilter, nullable: true }) filter: WorklistFilter | null,
    @Args('sort', { type: () => WorklistSort, defaultValue: WorklistSort.BOUNTY_DESC }) sort: WorklistSort,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<WorklistPage> {
    return this.studies.worklist(user.address, filter, sort, first, after);
  }

  @Authenticated()
  @Query(() => Study, { description: 'One study by its ID.' })
  async study(@Args('id', { type: () => ID }) id: string): Promise<Study> {
    return this.studies.study(id);
  }

  @Roles('RADIOLOGIST')
  @Query(() => [Study], { description: 'Studies you have claimed, newest first.' })
  async myClaims(
    @CurrentUser() user: AuthUser,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
  ): Promise<Study[]> {
    return this.studies.claimsOf(user.address, first);
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => PreparedTransaction, {
    description: 'The claim transaction for you to sign; refused up front if the study is taken or you are not eligible.',
  })
  async claimStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string) {
    return this.studies.prepareClaim(user.address, id);
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => GaslessRequest, {
    description: 'A gasless claim: an EIP-712 forward request to sign and hand to relayGasless (the service pays the gas).',
  })
  async prepareGaslessClaim(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string) {
    return this.studies.prepareGaslessClaim(user.address, id);
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => PreparedTransaction, {
    description: 'The report transaction for you to sign. Only the hash of the report goes on chain.',
  })
  async submitReport(
    @CurrentUser() user: AuthUser,
    @Args('studyId', { type: () => ID }) id: string,
    @Args('reportHash', { description: '32-byte hash of the report (e.g. keccak256 of the encrypted report)' }) hash: string,
  ) {
    return this.studies.prepareReport(user.address, id, hash);
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => GaslessRequest, { description: 'A gasless report: an EIP-712 forward request to sign and hand to relayGasless.' })
  async prepareGaslessReport(
    @CurrentUser() user: AuthUser,
    @Args('studyId', { type: () => ID }) id: string,
    @Args('reportHash', { description: '32-byte hash of the report' }) hash: string,
  ) {
    return this.studies.prepareGaslessReport(user.address, id, hash);
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => GaslessRequest, {
    description:
      'A gasless withdrawal of your market balance (your payouts) to your wallet: an EIP-712 forward request to sign and ' +
      'hand to relayGasless, so being paid never needs ETH. Refused up front (CONFLICT) above your balance.',
  })
  async prepareGaslessWithdraw(@CurrentUser() user: AuthUser, @Args('amount', { description: 'token base units' }) amount: string) {
    return this.studies.prepareGaslessWithdraw(user.address, amount);
  }

  @Roles('RADIOLOGIST', 'RO_DEPOSITOR')
  @Mutation(() => RelayedTransaction, {
    description:
      "Relay a forward request you signed (from prepareGaslessClaim/prepareGaslessReport/prepareGaslessWithdraw, or an RO depositor's " +
      'prepareGaslessRoWithdraw/prepareGaslessCancelStudy/prepareGaslessDisputeStudy) through the ERC-2771 forwarder; the service pays ' +
      'the gas, within a daily limit per signer. Waits until it is mined, then (bounded) until the index has the block, so what ' +
      'you read next reflects it (see `indexed`).',
  })
  async relayGasless(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('request', { type: () => ForwardRequestInput }) request: ForwardRequestInput,
    @Args('signature') signature: string,
  ): Promise<RelayedTransaction> {
    return this.studies.relayGasless(user.address, request, signature, ctx.req.roles ?? new Set());
  }

  @Roles('RADIOLOGIST', 'VERIFIER', 'RO_DEPOSITOR', 'DAO_MEMBER')
  @Mutation(() => RelayedTransaction, {
    description:
      'Send a transaction you signed and wait until it is mined, then (bounded) until the index has its block (see `indexed`): ' +
      'claim, submitReport or withdraw (radiologists), attest or revoke (verifiers), postStudy of a study ID from prepareStudyPosting, ' +
      'the approve and deposit of prepareRoDeposit, withdraw, cancelStudy and dispute (RO depositors), propose from ' +
      'proposeParameterChange (DAO members).',
  })
  async relayTransaction(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('signedTransaction') signed: string,
  ): Promise<RelayedTransaction> {
    return this.studies.relayTransaction(user.address, signed, ctx.req.roles ?? new Set());
  }
}
