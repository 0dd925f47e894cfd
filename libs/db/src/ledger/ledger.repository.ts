import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface LedgerEntryRow {
  /** the RO wallet the line belongs to */
  account: string;
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

  /**
   * The ledger of accounts (an RO's depositor wallets) in chain order, from indexed events, one keyset page. The
   * order and the cursor are the rows' unique key (block, log index, kind, account): one event can book several
   * lines for the same RO (e.g. a settlement's refund to one wallet and a deposit's credit to another), and a page
   * may end between them.
   */
  async entries(chainId: number, accounts: string[], limit: number, after?: LedgerCursor, blocks: BlockRange = {}): Promise<LedgerEntryRow[]> {
    const rows = await this.db.query(
      `SELECT account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time
       FROM ledger_entries
       WHERE chain_id = $1 AND account = ANY($2::text[])
         AND ($3::bigint IS NULL OR (block_number, log_index, kind, account) > ($3::bigint, $4::int, $8::text, $9::text))
         AND block_number BETWEEN coalesce($6::bigint, 0) AND coalesce($7::bigint, 9223372036854775807)
       ORDER BY block_number, log_index, kind, account
       LIMIT $5`,
      [chainId, accounts, after?.blockNumber ?? null, after?.logIndex ?? 0, limit, blocks.from ?? null, blocks.to ?? null, after?.kind ?? '', after?.account ?? ''],
    );
    return rows.map(toEntry);
  }

  /** Every line of the accounts in a block range (inclusive), in chain order: the reconciliation's input. */
  async between(chainId: number, accounts: string[], fromBlock: number, toBlock: number): Promise<LedgerEntryRow[]> {
    const rows = await this.db.query(
      `SELECT account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time
       FROM ledger_entries
       WHERE chain_id = $1 AND account = ANY($2::text[]) AND block_number BETWEEN $3 AND $4
       ORDER BY block_number, log_index, kind, account`,
      [chainId, accounts, fromBlock, toBlock],
    );
    return rows.map(toEntry);
  }

  /** Totals per kind, over the whole history or a block range. */
  async totals(chainId: number, accounts: string[], blocks: BlockRange = {}): Promise<Record<string, bigint>> {
    const rows = await this.db.query(
      `SELECT kind, sum(amount) AS total FROM ledger_entries
       WHERE chain_id = $1 AND account = ANY($2::text[])
         AND block_number BETWEEN coalesce($3::bigint, 0) AND coalesce($4::bigint, 9223372036854775807)
       GROUP BY kind`,
      [chainId, accounts, blocks.from ?? null, blocks.to ?? null],
    );
    return Object.fromEntries(rows.map((r: Record<string, any>) => [r.kind, BigInt(r.total)]));
  }
}

/** A ledger page's position: the last row's unique key. */
export interface LedgerCursor {
  blockNumber: number;
  logIndex: number;
  kind: string;
  account: string;
}

/** Inclusive block bounds; a missing bound is open. */
export interface BlockRange {
  from?: number;
  to?: number;
}

const toEntry = (r: Record<string, any>): LedgerEntryRow => ({
  account: r.account,
  kind: r.kind,
  amount: BigInt(r.amount),
  studyId: r.study_id,
  counterparty: r.counterparty,
  txHash: r.tx_hash,
  logIndex: Number(r.log_index),
  blockNumber: Number(r.block_number),
  blockTime: Number(r.block_time),
});
