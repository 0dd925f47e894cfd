import { Inject } from '@nestjs/common';
import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig } from '#config';
import { KEYED_PARAMETERS, VOTE_SUPPORT, parameterProposal, type ParameterChange, type ParameterName } from '#chain';
import { GovernanceRepository, ProposalRow, StudyRepository } from '#db';
import { Authenticated, CurrentUser, Roles, type AuthUser } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import { parseAmount, parseLimit, parseSignature } from '../common/validation.js';
import { PreparedTransaction } from '../common/graphql/index.js';
import { GovernanceService } from './governance.service.js';
import { Ballot, GovernanceTransaction, ParameterChangeInput, Parameters, Proposal, VoteSupport } from './governance.models.js';

const time = (s: number | null) => (s === null ? null : new Date(s * 1000));

function parseProposalId(id: string): string {
  if (!/^\d{1,78}$/.test(id)) throw new OpenReadError('BAD_INPUT', 'proposalId must be the decimal uint256 proposal ID');
  return id;
}

/**
 * DAO governance for members: proposals, parameters and their history, proposing parameter changes, gasless
 * votes (EIP-712 ballots relayed by the service), queue and execute. Any signed-in account may read; writes need
 * DAO_MEMBER (indexed membership votes). The governor itself enforces votes at the proposal snapshot.
 */
@Resolver(() => Proposal)
export class GovernanceResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly governance: GovernanceService,
    private readonly repo: GovernanceRepository,
    private readonly studies: StudyRepository,
  ) {}

  @Authenticated()
  @Query(() => [Proposal], { description: 'DAO proposals, newest first, with live state and quorum.' })
  async proposals(@Args('first', { type: () => Int, nullable: true }) first: number | null): Promise<Proposal[]> {
    const rows = await this.repo.proposals(this.config.chainId, this.governance.governorAddress.toLowerCase(), parseLimit(first ?? undefined));
    return Promise.all(rows.map((r) => this.toProposal(r)));
  }

  @Authenticated()
  @Query(() => Proposal, { description: 'One proposal by ID.' })
  async proposal(@Args('id', { type: () => ID }) id: string): Promise<Proposal> {
    return this.toProposal(await this.load(id));
  }

  @Authenticated()
  @Query(() => Parameters, { description: 'Current incentive parameters and their change history with the proposal behind each change.' })
  async parameters(@Args('historyFirst', { type: () => Int, nullable: true }) historyFirst: number | null): Promise<Parameters> {
    const [current, history] = await Promise.all([
      this.studies.parameters(this.config.chainId),
      this.repo.parameterHistory(this.config.chainId, parseLimit(historyFirst ?? undefined, 500, 100)),
    ]);
    return {
      current: current.map((p) => ({ name: p.name, key: p.key, value: p.value.toString() })),
      history: history.map((h) => ({
        name: h.name, key: h.key, value: h.value.toString(), changedAt: new Date(h.blockTime * 1000), blockNumber: h.blockNumber,
        txHash: h.txHash, proposalId: h.proposalId, proposalDescription: h.proposalDescription,
      })),
    };
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
    if (input.length === 0 || input.length > 20) throw new OpenReadError('BAD_INPUT', 'changes: between 1 and 20 parameter changes');
    if (description.trim().length === 0 || description.length > 10_000) throw new OpenReadError('BAD_INPUT', 'description: 1 to 10,000 characters');
    const changes: ParameterChange[] = input.map((c) => ({
      name: c.name as ParameterName,
      key: KEYED_PARAMETERS.includes(c.name as ParameterName) ? c.key : 0,
      value: parseAmount(c.value, `${c.name}.value`),
    }));
    const p = parameterProposal(this.config.contracts.parameters, changes);
    await this.governance.checkParameterChanges(changes, p.calldatas);
    const tx = await this.governance.prepareProposal(user.address, p.targets, p.values, p.calldatas, description);
    return { ...tx, gasLimit: tx.gasLimit.toString() };
  }

  @Roles('DAO_MEMBER')
  @Query(() => Ballot, { description: 'The EIP-712 ballot for you to sign (eth_signTypedData_v4); pass the signature to castVote.' })
  async ballot(
    @CurrentUser() user: AuthUser,
    @Args('proposalId', { type: () => ID }) id: string,
    @Args('support', { type: () => VoteSupport }) support: keyof typeof VOTE_SUPPORT,
  ): Promise<Ballot> {
    const row = await this.load(id);
    return this.governance.ballot(row.proposalId, VOTE_SUPPORT[support], user.address);
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
    parseSignature(signature);
    const row = await this.load(id);
    return this.governance.castVoteBySig(row.proposalId, VOTE_SUPPORT[support], user.address, signature);
  }

  @Roles('DAO_MEMBER')
  @Mutation(() => GovernanceTransaction, { description: 'Queue a succeeded proposal in the timelock (sent by the service).' })
  async queueProposal(@Args('proposalId', { type: () => ID }) id: string): Promise<GovernanceTransaction> {
    const row = await this.load(id);
    return this.governance.queue(row);
  }

  @Roles('DAO_MEMBER')
  @Mutation(() => GovernanceTransaction, { description: 'Execute a queued proposal once its eta has passed (sent by the service).' })
  async executeProposal(@Args('proposalId', { type: () => ID }) id: string): Promise<GovernanceTransaction> {
    const row = await this.load(id);
    return this.governance.execute(row);
  }

  private async load(id: string): Promise<ProposalRow> {
    const row = await this.repo.proposal(this.config.chainId, this.governance.governorAddress.toLowerCase(), parseProposalId(id));
    if (!row) throw new OpenReadError('NOT_FOUND', 'no such proposal (or it is not indexed yet)');
    return row;
  }

  private async toProposal(r: ProposalRow): Promise<Proposal> {
    const live = await this.governance.liveStatus(r);
    return {
      id: r.proposalId, proposer: r.proposer, description: r.description, state: live.state,
      forVotes: r.forVotes.toString(), againstVotes: r.againstVotes.toString(), abstainVotes: r.abstainVotes.toString(),
      quorum: live.quorum.toString(), voteStart: new Date(r.voteStart * 1000), voteEnd: new Date(r.voteEnd * 1000),
      eta: time(r.eta), executedAt: time(r.executedAt), canceledAt: time(r.canceledAt), createdAt: new Date(r.createdAt * 1000),
      actions: r.actions.map((a) => ({ ...a, parameterChange: this.governance.decodeParameterChange(a.target, a.calldata) })),
    };
  }
}
