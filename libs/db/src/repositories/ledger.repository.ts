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

  /** The ledger of accounts (an RO's depositor wallets) in chain order, from indexed events. */
  async entries(chainId: number, accounts: string[], limit: number, afterId?: { blockNumber: number; logIndex: number }) {
    const rows = await this.db.query(
      `SELECT kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time
       FROM ledger_entries
       WHERE chain_id = $1 AND account = ANY($2::text[])
         AND ($3::bigint IS NULL OR (block_number, log_index) > ($3::bigint, $4::int))
       ORDER BY block_number, log_index, kind
       LIMIT $5`,
      [chainId, accounts, afterId?.blockNumber ?? null, afterId?.logIndex ?? 0, limit],
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

  /** Totals per kind, e.g. for the ledger summary. */
  async totals(chainId: number, accounts: string[]): Promise<Record<string, bigint>> {
    const rows = await this.db.query(
      `SELECT kind, sum(amount) AS total FROM ledger_entries WHERE chain_id = $1 AND account = ANY($2::text[]) GROUP BY kind`,
      [chainId, accounts],
    );
    return Object.fromEntries(rows.map((r: Record<string, any>) => [r.kind, BigInt(r.total)]));
  }
}
