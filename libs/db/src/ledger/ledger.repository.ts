// The ledger aggregate (libs/db/src/ledger): `ledger_entries` is written only by the indexer
// (apps/indexer/src/store/projections/ledger.projection.ts inserts the lines every projection collected, by COPY,
// with the mapping ledgerLinesOf in #domain); a reorg deletes the rows above the common ancestor (event-store.ts).
// This repository only reads.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

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
  async entries(
    chainId: number,
    accounts: string[],
    limit: number,
    after?: LedgerCursor,
    blocks: BlockRange = {},
  ): Promise<LedgerEntryRow[]> {
    const afterBlock = after?.blockNumber ?? null;
    const rows = await queryRows<LedgerEntryDbRow>(
      this.db,
      sql`SELECT account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time
       FROM ledger_entries
       WHERE chain_id = ${chainId} AND account = ANY(${accounts}::text[])
         AND (${afterBlock}::bigint IS NULL OR (block_number, log_index, kind, account) > (${afterBlock}::bigint, ${after?.logIndex ?? 0}::int, ${after?.kind ?? ''}::text, ${after?.account ?? ''}::text))
         AND block_number BETWEEN coalesce(${blocks.from ?? null}::bigint, 0) AND coalesce(${blocks.to ?? null}::bigint, 9223372036854775807)
       ORDER BY block_number, log_index, kind, account
       LIMIT ${limit}`,
    );
    return rows.map(toEntry);
  }

  /** Every line of the accounts in a block range (inclusive), in chain order: the reconciliation's input. */
  async between(chainId: number, accounts: string[], fromBlock: number, toBlock: number): Promise<LedgerEntryRow[]> {
    const rows = await queryRows<LedgerEntryDbRow>(
      this.db,
      sql`SELECT account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time
       FROM ledger_entries
       WHERE chain_id = ${chainId} AND account = ANY(${accounts}::text[]) AND block_number BETWEEN ${fromBlock} AND ${toBlock}
       ORDER BY block_number, log_index, kind, account`,
    );
    return rows.map(toEntry);
  }

  /** Totals per kind, over the whole history or a block range. */
  async totals(chainId: number, accounts: string[], blocks: BlockRange = {}): Promise<Record<string, bigint>> {
    const rows = await queryRows<{ kind: string; total: string }>(
      this.db,
      sql`SELECT kind, sum(amount) AS total FROM ledger_entries
       WHERE chain_id = ${chainId} AND account = ANY(${accounts}::text[])
         AND block_number BETWEEN coalesce(${blocks.from ?? null}::bigint, 0) AND coalesce(${blocks.to ?? null}::bigint, 9223372036854775807)
       GROUP BY kind`,
    );
    return Object.fromEntries(rows.map((r) => [r.kind, BigInt(r.total)]));
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

/** A row of ledger_entries (the columns the reads select). */
interface LedgerEntryDbRow {
  account: string;
  kind: string;
  amount: string;
  study_id: string | null;
  counterparty: string | null;
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_time: string;
}

const toEntry = (r: LedgerEntryDbRow): LedgerEntryRow => ({
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
