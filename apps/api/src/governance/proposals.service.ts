import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { KEYED_PARAMETERS, VOTE_SUPPORT, parameterProposal, type ParameterChange, type ParameterName } from '#chain';
import { GovernanceRepository, ProposalRow, StudyRepository } from '#db';
import { OpenReadError } from '../common/errors.js';
import { type PreparedTransaction, chainTime, toPrepared } from '../common/graphql/index.js';
import { parseAmount, parseLimit, parseSignature } from '../common/validation.js';
import type { Ballot, GovernanceTransaction, ParameterChangeInput, Parameters, Proposal } from './governance.models.js';
import { GovernanceService } from './governance.service.js';

function parseProposalId(id: string): string {
  if (!/^\d{1,78}$/.test(id)) throw new OpenReadError('BAD_INPUT', 'proposalId must be the decimal uint256 proposal ID');
  return id;
}

/**
 * DAO proposals as the API answers them: the indexed proposals and parameters with the governor's live state, and the
 * checks before a proposal, a ballot, a vote, a queue or an execution (GovernanceService talks to the governor).
 */
@Injectable()
export class ProposalsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly governance: GovernanceService,
    private readonly repo: GovernanceRepository,
    private readonly studies: StudyRepository,
  ) {}

  async proposals(first: number | null): Promise<Proposal[]> {
    const rows = await this.repo.proposals(
      this.config.chainId,
      this.governance.governorAddress.toLowerCase(),
      parseLimit(first ?? undefined),
    );
    return Promise.all(rows.map((r) => this.toProposal(r)));
  }

  async proposal(id: string): Promise<Proposal> {
    return this.toProposal(await this.load(id));
  }

  async parameters(historyFirst: number | null): Promise<Parameters> {
    const [current, history] = await Promise.all([
      this.studies.parameters(this.config.chainId),
      this.repo.parameterHistory(this.config.chainId, parseLimit(historyFirst ?? undefined, 500, 100)),
    ]);
    return {
      current: current.map((p) => ({ name: p.name, key: p.key, value: p.value.toString() })),
      history: history.map((h) => ({
        name: h.name,
        key: h.key,
        value: h.value.toString(),
        changedAt: new Date(h.blockTime * 1000),
        blockNumber: h.blockNumber,
        txHash: h.txHash,
        proposalId: h.proposalId,
        proposalDescription: h.proposalDescription,
      })),
    };
  }

  async proposeParameterChange(proposer: string, input: ParameterChangeInput[], description: string): Promise<PreparedTransaction> {
    if (input.length === 0 || input.length > 20) throw new OpenReadError('BAD_INPUT', 'changes: between 1 and 20 parameter changes');
    if (description.trim().length === 0 || description.length > 10_000)
      throw new OpenReadError('BAD_INPUT', 'description: 1 to 10,000 characters');
    const changes: ParameterChange[] = input.map((c) => ({
      name: c.name as ParameterName,
      key: KEYED_PARAMETERS.includes(c.name as ParameterName) ? c.key : 0,
      value: parseAmount(c.value, `${c.name}.value`),
    }));
    const p = parameterProposal(this.config.contracts.parameters, changes);
    await this.governance.checkParameterChanges(changes, p.calldatas);
    return toPrepared(await this.governance.prepareProposal(proposer, p.targets, p.values, p.calldatas, description));
  }

  async ballot(voter: string, id: string, support: keyof typeof VOTE_SUPPORT): Promise<Ballot> {
    const row = await this.load(id);
    return this.governance.ballot(row.proposalId, VOTE_SUPPORT[support], voter);
  }

  async castVote(voter: string, id: string, support: keyof typeof VOTE_SUPPORT, signature: string): Promise<GovernanceTransaction> {
    parseSignature(signature);
    const row = await this.load(id);
    return this.governance.castVoteBySig(row.proposalId, VOTE_SUPPORT[support], voter, signature);
  }

  async queue(id: string): Promise<GovernanceTransaction> {
    return this.governance.queue(await this.load(id));
  }

  async execute(id: string): Promise<GovernanceTransaction> {
    return this.governance.execute(await this.load(id));
  }

  private async load(id: string): Promise<ProposalRow> {
    const row = await this.repo.proposal(this.config.chainId, this.governance.governorAddress.toLowerCase(), parseProposalId(id));
    if (!row) throw new OpenReadError('NOT_FOUND', 'no such proposal (or it is not indexed yet)');
    return row;
  }

  private async toProposal(r: ProposalRow): Promise<Proposal> {
    const live = await this.governance.liveStatus(r);
    return {
      id: r.proposalId,
      proposer: r.proposer,
      description: r.description,
      state: live.state,
      forVotes: r.forVotes.toString(),
      againstVotes: r.againstVotes.toString(),
      abstainVotes: r.abstainVotes.toString(),
      quorum: live.quorum.toString(),
      voteStart: new Date(r.voteStart * 1000),
      voteEnd: new Date(r.voteEnd * 1000),
      eta: chainTime(r.eta),
      executedAt: chainTime(r.executedAt),
      canceledAt: chainTime(r.canceledAt),
      createdAt: new Date(r.createdAt * 1000),
      actions: r.actions.map((a) => ({ ...a, parameterChange: this.governance.decodeParameterChange(a.target, a.calldata) })),
    };
  }
}
