// The governance aggregate (libs/db/src/governance): governance_proposals (with for/against/abstain tallies),
// governance_votes and dao_votes are written only by the indexer (projections/governance.projection.ts), and
// parameter_changes by projections/parameters.projection.ts (its proposal_id by attributeProposals, after the
// batch). A reorg deletes the touched proposals/members and replays their events. This repository only reads.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

export interface ProposalAction {
  target: string;
  value: string;
  calldata: string;
  signature: string;
}

export interface ProposalRow {
  governor: string;
  proposalId: string;
  proposer: string;
  actions: ProposalAction[];
  description: string;
  voteStart: number;
  voteEnd: number;
  forVotes: bigint;
  againstVotes: bigint;
  abstainVotes: bigint;
  eta: number | null;
  queuedAt: number | null;
  executedAt: number | null;
  canceledAt: number | null;
  createdAt: number;
  createdBlock: number;
}

export interface ParameterChangeRow {
  name: string;
  key: number;
  value: bigint;
  blockNumber: number;
  blockTime: number;
  txHash: string;
  /** the proposal whose execution made the change; null for the constructor's defaults and pre-DAO owner changes */
  proposalId: string | null;
  proposalDescription: string | null;
}

/** Reads the governance projections written by the indexer (event-store.ts). */
@Injectable()
export class GovernanceRepository {
  constructor(private readonly db: DataSource) {}

  /** Proposals of `governor`, newest first; `before` is the created block of the last row of the previous page. */
  async proposals(chainId: number, governor: string, limit: number, before?: number): Promise<ProposalRow[]> {
    const rows = await queryRows<ProposalDbRow>(
      this.db,
      sql`SELECT * FROM governance_proposals
       WHERE chain_id = ${chainId} AND governor = ${governor} AND (${before ?? null}::bigint IS NULL OR created_block < ${before ?? null}::bigint)
       ORDER BY created_block DESC, proposal_id DESC
       LIMIT ${limit}`,
    );
    return rows.map(toProposal);
  }

  async proposal(chainId: number, governor: string, proposalId: string): Promise<ProposalRow | null> {
    const rows = await queryRows<ProposalDbRow>(
      this.db,
      sql`SELECT * FROM governance_proposals WHERE chain_id = ${chainId} AND governor = ${governor} AND proposal_id = ${proposalId}`,
    );
    return rows.length ? toProposal(rows[0]) : null;
  }

  /** Current (indexed) voting power of `account` on the membership token. */
  async votesOf(chainId: number, token: string, account: string): Promise<bigint> {
    const rows = await queryRows<{ votes: string }>(
      this.db,
      sql`SELECT votes FROM dao_votes WHERE chain_id = ${chainId} AND token = ${token.toLowerCase()} AND account = ${account.toLowerCase()}`,
    );
    return rows.length ? BigInt(rows[0].votes) : 0n;
  }

  /** Every change of the incentive parameters, newest first, with the proposal that made it. */
  async parameterHistory(chainId: number, limit: number, name?: string): Promise<ParameterChangeRow[]> {
    const rows = await queryRows<ParameterChangeDbRow>(
      this.db,
      sql`SELECT c.name, c.key, c.value, c.block_number, c.block_time, c.tx_hash, c.proposal_id, p.description
       FROM parameter_changes c
       LEFT JOIN governance_proposals p ON p.chain_id = c.chain_id AND p.proposal_id = c.proposal_id
       WHERE c.chain_id = ${chainId} AND (${name ?? null}::text IS NULL OR c.name = ${name ?? null}::text)
       ORDER BY c.block_number DESC, c.log_index DESC
       LIMIT ${limit}`,
    );
    return rows.map((r): ParameterChangeRow => ({
      name: r.name,
      key: Number(r.key),
      value: BigInt(r.value),
      blockNumber: Number(r.block_number),
      blockTime: Number(r.block_time),
      txHash: r.tx_hash,
      proposalId: r.proposal_id === null ? null : String(r.proposal_id),
      proposalDescription: r.description,
    }));
  }
}

const numOrNull = (v: string | null) => (v === null ? null : Number(v));

/** A row of governance_proposals (numeric and bigint columns come back as strings). */
interface ProposalDbRow {
  governor: string;
  proposal_id: string;
  proposer: string;
  actions: ProposalAction[];
  description: string;
  vote_start: string;
  vote_end: string;
  for_votes: string;
  against_votes: string;
  abstain_votes: string;
  eta: string | null;
  queued_at: string | null;
  executed_at: string | null;
  canceled_at: string | null;
  created_at: string;
  created_block: string;
}

/** parameter_changes joined with the description of the proposal that made the change (null if none). */
interface ParameterChangeDbRow {
  name: string;
  key: number;
  value: string;
  block_number: string;
  block_time: string;
  tx_hash: string;
  proposal_id: string | null;
  description: string | null;
}

function toProposal(r: ProposalDbRow): ProposalRow {
  return {
    governor: r.governor,
    proposalId: String(r.proposal_id),
    proposer: r.proposer,
    actions: r.actions,
    description: r.description,
    voteStart: Number(r.vote_start),
    voteEnd: Number(r.vote_end),
    forVotes: BigInt(r.for_votes),
    againstVotes: BigInt(r.against_votes),
    abstainVotes: BigInt(r.abstain_votes),
    eta: numOrNull(r.eta),
    queuedAt: numOrNull(r.queued_at),
    executedAt: numOrNull(r.executed_at),
    canceledAt: numOrNull(r.canceled_at),
    createdAt: Number(r.created_at),
    createdBlock: Number(r.created_block),
  };
}
