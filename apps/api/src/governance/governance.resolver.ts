import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import type { VOTE_SUPPORT } from '#chain';
import { Authenticated, CurrentUser, Roles, type AuthUser } from '../common/access.js';
import { PreparedTransaction } from '../common/graphql/index.js';
import { Ballot, GovernanceTransaction, ParameterChangeInput, Parameters, Proposal, VoteSupport } from './governance.models.js';
import { ProposalsService } from './proposals.service.js';

/**
 * DAO governance for members: proposals, parameters and their history, proposing parameter changes, gasless
 * votes (EIP-712 ballots relayed by the service), queue and execute. Any signed-in account may read; writes need
 * DAO_MEMBER (indexed membership votes). The governor itself enforces votes at the proposal snapshot.
 */
@Resolver(() => Proposal)
export class GovernanceResolver {
  constructor(private readonly dao: ProposalsService) {}

  @Authenticated()
  @Query(() => [Proposal], { description: 'DAO proposals, newest first, with live state and quorum.' })
  async proposals(@Args('first', { type: () => Int, nullable: true }) first: number | null): Promise<Proposal[]> {
    return this.dao.proposals(first);
  }

  @Authenticated()
  @Query(() => Proposal, { description: 'One proposal by ID.' })
  async proposal(@Args('id', { type: () => ID }) id: string): Promise<Proposal> {
    return this.dao.proposal(id);
  }

  @Authenticated()
  @Query(() => Parameters, { description: 'Current incentive parameters and their change history with the proposal behind each change.' })
  async parameters(@Args('historyFirst', { type: () => Int, nullable: true }) historyFirst: number | null): Promise<Parameters> {
    return this.dao.parameters(historyFirst);
  }

  @Roles('DAO_MEMBER')
  @Mutation(() => PreparedTransaction, {
    description:
      'The propose transaction for your wallet to sign (send it back with relayTransaction). Refused up front if you are ' +
      'not a member or a value is outside its hard bounds.',
  })
  async proposeParameterChange(
    @CurrentUser() user: AuthUser,
    @Args('changes', { type: () => [ParameterChangeInput] }) input: ParameterChangeInput[],
    @Args('description') description: string,
  ): Promise<PreparedTransaction> {
    return this.dao.proposeParameterChange(user.address, input, description);
  }

  @Roles('DAO_MEMBER')
  @Query(() => Ballot, { description: 'The EIP-712 ballot for you to sign (eth_signTypedData_v4); pass the signature to castVote.' })
  async ballot(
    @CurrentUser() user: AuthUser,
    @Args('proposalId', { type: () => ID }) id: string,
    @Args('support', { type: () => VoteSupport }) support: keyof typeof VOTE_SUPPORT,
  ): Promise<Ballot> {
    return this.dao.ballot(user.address, id, support);
  }

  @Roles('DAO_MEMBER')
  @Mutation(() => GovernanceTransaction, {
    description: 'Gasless vote: your signed ballot, relayed by the service (castVoteBySig). The vote counts for the signer.',
  })
  async castVote(
    @CurrentUser() user: AuthUser,
    @Args('proposalId', { type: () => ID }) id: string,
    @Args('support', { type: () => VoteSupport }) support: keyof typeof VOTE_SUPPORT,
    @Args('signature') signature: string,
  ): Promise<GovernanceTransaction> {
    return this.dao.castVote(user.address, id, support, signature);
  }

  @Roles('DAO_MEMBER')
  @Mutation(() => GovernanceTransaction, { description: 'Queue a succeeded proposal in the timelock (sent by the service).' })
  async queueProposal(@Args('proposalId', { type: () => ID }) id: string): Promise<GovernanceTransaction> {
    return this.dao.queue(id);
  }

  @Roles('DAO_MEMBER')
  @Mutation(() => GovernanceTransaction, { description: 'Execute a queued proposal once its eta has passed (sent by the service).' })
  async executeProposal(@Args('proposalId', { type: () => ID }) id: string): Promise<GovernanceTransaction> {
    return this.dao.execute(id);
  }
}
