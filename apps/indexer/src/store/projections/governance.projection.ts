import type { EntityManager } from 'typeorm';
import { type ChainEvent, execute, queryRows, raw, sql } from '#db';
import { type Projection, type Runner, keyParts, num, str } from './projection.js';

/**
 * `governance_proposals` and `governance_votes` (one proposal with its votes, a function of that proposal's
 * events) and `dao_votes` (a member's voting power, of its DelegateVotesChanged). Low volume: one statement per
 * event (a run still touches each entity at most once); a rollback replays them by entity.
 */
/** OpenZeppelin 5 Governor events (Tally-compatible), into governance_proposals / governance_votes */
export const GOVERNANCE_EVENTS = [
  'ProposalCreated',
  'VoteCast',
  'VoteCastWithParams',
  'ProposalExtended',
  'ProposalQueued',
  'ProposalExecuted',
  'ProposalCanceled',
];
/** the membership token's voting power (who is a DAO member), into dao_votes */
export const VOTING_POWER_EVENTS = ['DelegateVotesChanged'];

/** The tally column a vote adds to, by its `support` (a closed list: never from input). */
const TALLY_COLUMNS = ['against_votes', 'for_votes', 'abstain_votes'];

/** One governor event into governance_proposals / governance_votes. */
async function projectGovernance(tx: EntityManager, chainId: number, e: ChainEvent): Promise<void> {
  const a = e.args;
  const [governor, proposalId] = [e.contract, str(a.proposalId)];
  const where = sql`chain_id = ${chainId} AND governor = ${governor} AND proposal_id = ${proposalId}`;
  switch (e.name) {
    case 'ProposalCreated': {
      const targets = a.targets as string[];
      const values = a.values as string[];
      const calldatas = a.calldatas as string[];
      const signatures = a.signatures as string[];
      const actions = targets.map((target, i) => ({ target, value: values[i], calldata: calldatas[i], signature: signatures[i] }));
      await execute(
        tx,
        sql`INSERT INTO governance_proposals (chain_id, governor, proposal_id, proposer, actions, description, vote_start, vote_end,
                                           created_block, created_tx, created_at, updated_block)
         VALUES (${chainId}, ${governor}, ${proposalId}, ${str(a.proposer)}, ${JSON.stringify(actions)}, ${str(a.description)}, ${num(a.voteStart)}, ${num(a.voteEnd)}, ${e.blockNumber}, ${e.txHash}, ${e.blockTime}, ${e.blockNumber})
         ON CONFLICT ON CONSTRAINT governance_proposals_pk DO NOTHING`,
      );
      return;
    }
    case 'VoteCast':
    case 'VoteCastWithParams': {
      const column = TALLY_COLUMNS[num(a.support)];
      const inserted = await queryRows<{ weight: string }>(
        tx,
        sql`INSERT INTO governance_votes (chain_id, governor, proposal_id, voter, support, weight, reason, tx_hash, block_number, block_time)
         VALUES (${chainId}, ${governor}, ${proposalId}, ${str(a.voter)}, ${num(a.support)}, ${str(a.weight)}, ${str(a.reason ?? '')}, ${e.txHash}, ${e.blockNumber}, ${e.blockTime})
         ON CONFLICT ON CONSTRAINT governance_votes_pk DO NOTHING
         RETURNING weight`,
      );
      if (inserted.length > 0 && column)
        await execute(
          tx,
          sql`UPDATE governance_proposals SET ${raw(column)} = ${raw(column)} + ${str(a.weight)}, updated_block = ${e.blockNumber} WHERE ${where}`,
        );
      return;
    }
    case 'ProposalExtended':
      await execute(
        tx,
        sql`UPDATE governance_proposals SET vote_end = ${num(a.extendedDeadline)}, updated_block = ${e.blockNumber} WHERE ${where}`,
      );
      return;
    case 'ProposalQueued':
      await execute(
        tx,
        sql`UPDATE governance_proposals SET eta = ${num(a.etaSeconds)}, queued_at = ${e.blockTime}, updated_block = ${e.blockNumber} WHERE ${where}`,
      );
      return;
    case 'ProposalExecuted':
      await execute(
        tx,
        sql`UPDATE governance_proposals SET executed_at = ${e.blockTime}, executed_tx = ${e.txHash}, updated_block = ${e.blockNumber} WHERE ${where}`,
      );
      return;
    case 'ProposalCanceled':
      await execute(tx, sql`UPDATE governance_proposals SET canceled_at = ${e.blockTime}, updated_block = ${e.blockNumber} WHERE ${where}`);
      return;
  }
}

const eachGovernanceEvent: Runner = async (tx, chainId, run) => {
  for (const e of run) await projectGovernance(tx, chainId, e);
};

export const governanceProposalsProjection: Projection = {
  events: GOVERNANCE_EVENTS,
  entityOf: (e) => `proposal:${e.contract}:${e.args.proposalId}`,
  runners: Object.fromEntries(GOVERNANCE_EVENTS.map((name) => [name, eachGovernanceEvent])),
  async deleteEntities(tx, chainId, keys) {
    const proposals = keyParts(keys, 'proposal');
    if (!proposals.length) return;
    const [governors, ids] = [proposals.map((p) => p[0]), proposals.map((p) => p[1])];
    for (const table of ['governance_votes', 'governance_proposals'])
      await execute(
        tx,
        sql`DELETE FROM ${raw(table)} t USING (SELECT unnest(${governors}::text[]) AS governor, unnest(${ids}::numeric[]) AS proposal_id) AS v
         WHERE t.chain_id = ${chainId} AND t.governor = v.governor AND t.proposal_id = v.proposal_id`,
      );
  },
};

export const votingPowerProjection: Projection = {
  events: VOTING_POWER_EVENTS,
  entityOf: (e) => `votes:${e.contract}:${e.args.delegate}`,
  runners: {
    async DelegateVotesChanged(tx, chainId, run) {
      for (const e of run)
        await execute(
          tx,
          sql`INSERT INTO dao_votes (chain_id, token, account, votes, updated_block) VALUES (${chainId}, ${e.contract}, ${str(e.args.delegate)}, ${str(e.args.newVotes)}, ${e.blockNumber})
         ON CONFLICT ON CONSTRAINT dao_votes_pk DO UPDATE SET votes = EXCLUDED.votes, updated_block = EXCLUDED.updated_block`,
        );
    },
  },
  async deleteEntities(tx, chainId, keys) {
    const votes = keyParts(keys, 'votes');
    if (!votes.length) return;
    const [tokens, accounts] = [votes.map((p) => p[0]), votes.map((p) => p[1])];
    await execute(
      tx,
      sql`DELETE FROM dao_votes t USING (SELECT unnest(${tokens}::text[]) AS token, unnest(${accounts}::text[]) AS account) AS v
       WHERE t.chain_id = ${chainId} AND t.token = v.token AND t.account = v.account`,
    );
  },
};
