import type { EntityManager } from 'typeorm';
import { type ChainEvent, execute, sql } from '#db';
import { type Projection, col, num, str } from './projection.js';

/**
 * `incentive_parameters` (one row per name/key, a function of its ParameterUpdated events) and its history
 * `parameter_changes` (a row per event; a rollback deletes them by block).
 */
export const PARAMETER_EVENTS = ['ParameterUpdated'];

export const parametersProjection: Projection = {
  events: PARAMETER_EVENTS,
  entityOf: (e) => `parameter:${e.args.name}:${e.args.key}`,
  runners: {
    async ParameterUpdated(tx, chainId, run) {
      const [name, key, value, block, txHash, blockTime, logIndex] = [
        col(run, (e) => str(e.args.name)),
        col(run, (e) => num(e.args.key)),
        col(run, (e) => str(e.args.value)),
        col(run, (e) => e.blockNumber),
        col(run, (e) => e.txHash),
        col(run, (e) => e.blockTime),
        col(run, (e) => e.logIndex),
      ];
      await execute(
        tx,
        sql`INSERT INTO incentive_parameters (chain_id, name, key, value, updated_block, tx_hash)
       SELECT ${chainId}::int, v.name, v.key, v.value, v.block, v.tx_hash
       FROM (SELECT unnest(${name}::text[]) AS name, unnest(${key}::int[]) AS key, unnest(${value}::numeric[]) AS value, unnest(${block}::bigint[]) AS block, unnest(${txHash}::text[]) AS tx_hash) AS v
       ON CONFLICT ON CONSTRAINT incentive_parameters_pk DO UPDATE
         SET value = EXCLUDED.value, updated_block = EXCLUDED.updated_block, tx_hash = EXCLUDED.tx_hash`,
      );
      // the history (per event; the proposal that made a change is filled in by attributeProposals)
      await execute(
        tx,
        sql`INSERT INTO parameter_changes (chain_id, name, key, value, block_number, block_time, tx_hash, log_index)
       SELECT ${chainId}::int, unnest(${name}::text[]), unnest(${key}::int[]), unnest(${value}::numeric[]), unnest(${block}::bigint[]), unnest(${blockTime}::bigint[]), unnest(${txHash}::text[]), unnest(${logIndex}::int[])
       ON CONFLICT ON CONSTRAINT parameter_changes_pk DO NOTHING`,
      );
    },
  },
};

/**
 * The parameter changes an execution made are in the same transaction (logged before its ProposalExecuted):
 * they name the proposal. Runs after every run of the batch, when both rows exist whatever their waves were.
 */
export async function attributeProposals(tx: EntityManager, chainId: number, events: ChainEvent[]): Promise<void> {
  const executed = events.filter((e) => e.name === 'ProposalExecuted');
  if (executed.length === 0) return;
  const [txHash, proposalId] = [executed.map((e) => e.txHash), executed.map((e) => str(e.args.proposalId))];
  await execute(
    tx,
    sql`UPDATE parameter_changes p SET proposal_id = v.proposal_id
     FROM (SELECT unnest(${txHash}::text[]) AS tx_hash, unnest(${proposalId}::numeric[]) AS proposal_id) AS v
     WHERE p.chain_id = ${chainId} AND p.tx_hash = v.tx_hash`,
  );
}
