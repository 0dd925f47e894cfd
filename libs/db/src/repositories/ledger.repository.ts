import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface LedgerEntryRow {
  kind: string;
  amount: bigint;
  studyId: string | null;
  counterparty: string | null;
  txHash: string;
  logIndex: number;
  blockNumber: number;
  blockTime: number;
}

@Injectable()
export class LedgerRepository {
  constructor(private readonly db: DataSource) {}

  /** An account's (RO's) ledger in chain order, from indexed events. */
  async entries(chainId: number, account: string, limit: number, afterId?: { blockNumber: number; logIndex: number }) {
    const rows = await this.db.query(
      `SELECT kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time
       FROM ledger_entries
       WHERE chain_id = $1 AND account = $2
         AND ($3::bigint IS NULL OR (block_number, log_index) > ($3::bigint, $4::int))
       ORDER BY block_number, log_index, kind
       LIMIT $5`,
      [chainId, account, afterId?.blockNumber ?? null, afterId?.logIndex ?? 0, limit],
    );
    return rows.map(
      (r: Record<string, any>): LedgerEntryRow => ({
        kind: r.kind,
        amount: BigInt(r.amount),
        studyId: r.study_id,
        counterparty: r.counterparty,
        txHash: r.tx_hash,
        logIndex: Number(r.log_index),
        blockNumber: Number(r.block_number),
        blockTime: Number(r.block_time),
      }),
    );
  }

  /** Totals per kind, e.g. for the ledger summary; with `upToBlock`, only entries at or below it (final ones). */
  async totals(chainId: number, account: string, upToBlock?: number): Promise<Record<string, bigint>> {
    const rows = await this.db.query(
      `SELECT kind, sum(amount) AS total FROM ledger_entries
       WHERE chain_id = $1 AND account = $2 AND ($3::bigint IS NULL OR block_number <= $3::bigint) GROUP BY kind`,
      [chainId, account, upToBlock ?? null],
    );
    return Object.fromEntries(rows.map((r: Record<string, any>) => [r.kind, BigInt(r.total)]));
  }
}
