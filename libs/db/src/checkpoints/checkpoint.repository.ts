// The indexer's progress (libs/db/src/checkpoints): indexer_checkpoints is written only by the indexer's event
// store (apps/indexer/src/store/event-store.ts, in the same transaction as the events it records); read here.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Checkpoint } from '../chain-events.js';
import { queryRows, sql } from '../sql.js';

/** How far the indexer has got on chain/stream (its checkpoint row); null before its first block. */
export async function readCheckpoint(db: Pick<DataSource, 'query'>, chainId: number, stream: string): Promise<Checkpoint | null> {
  const rows = await queryRows<{
    block_number: string;
    block_hash: string;
    block_time: string | null;
    chain_head: string | null;
    halted_reason: string | null;
  }>(
    db,
    sql`SELECT block_number, block_hash, block_time, chain_head, halted_reason FROM indexer_checkpoints WHERE chain_id = ${chainId} AND stream = ${stream}`,
  );
  if (rows.length === 0) return null;
  return {
    blockNumber: Number(rows[0].block_number),
    blockHash: rows[0].block_hash,
    blockTime: rows[0].block_time === null ? null : Number(rows[0].block_time),
    chainHead: rows[0].chain_head === null ? null : Number(rows[0].chain_head),
    haltedReason: rows[0].halted_reason,
  };
}

/** The indexer's progress, read side (the API's finality and status). */
@Injectable()
export class CheckpointRepository {
  constructor(private readonly db: DataSource) {}

  checkpoint(chainId: number, stream: string): Promise<Checkpoint | null> {
    return readCheckpoint(this.db, chainId, stream);
  }
}
