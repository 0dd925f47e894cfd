import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { PruneOptions } from '../pruning.js';

export interface BucketSpec {
  /** most tokens a bucket holds (the burst) */
  capacity: number;
  /** tokens added per second */
  refillPerSecond: number;
}

/**
 * The two kinds of buckets: a signed-in account's (keyed by its address) and a client's without a session (keyed
 * by a keyed hash of its network address, never the address; see apps/api/src/limits/client-address.ts).
 * Table and column names come from here only, never from a caller.
 */
export type BucketKind = 'account' | 'client';
const TABLES = {
  account: { table: 'rate_limit_buckets', key: 'account', first: `''::text` },
  client: { table: 'rate_limit_client_buckets', key: 'client', first: `'\\x'::bytea` },
} as const;

@Injectable()
export class RateLimitRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Takes one token from the (account, operation) bucket, refilled for the time since it was last touched.
   * Returns false when the bucket is empty. One statement: the row lock of the UPSERT serialises concurrent takers.
   * Errors propagate: the caller must refuse the request (fail closed), never allow it.
   */
  take(account: string, operation: string, spec: BucketSpec): Promise<boolean> {
    return this.takeFrom('account', account, operation, spec);
  }

  /** The same for a client without a session, keyed by the hash of its address (see BucketKind). */
  takeClient(clientKey: Buffer, operation: string, spec: BucketSpec): Promise<boolean> {
    return this.takeFrom('client', clientKey, operation, spec);
  }

  private async takeFrom(kind: BucketKind, key: string | Buffer, operation: string, spec: BucketSpec): Promise<boolean> {
    const t = TABLES[kind];
    const rows = await this.db.query(
      `INSERT INTO ${t.table} AS b (${t.key}, operation, tokens, refilled_at)
       VALUES ($1, $2, $3::double precision - 1, clock_timestamp())
       ON CONFLICT (${t.key}, operation) DO UPDATE SET
         tokens = LEAST($3::double precision,
                        b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * $4::double precision) - 1,
         refilled_at = clock_timestamp()
       WHERE LEAST($3::double precision,
                   b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * $4::double precision) >= 1
       RETURNING tokens`,
      [key, operation, spec.capacity, spec.refillPerSecond],
    );
    return rows.length > 0;
  }

  /**
   * Deletes buckets that are full again: untouched for at least capacity / refillPerSecond seconds, so a take would
   * find `capacity` tokens whatever they held (tokens never go below 0). A missing bucket is created full, so
   * deleting a full one changes no answer; for client buckets it also ends the keeping of the hashed address.
   *
   * Batched through the primary key (keyset: each statement goes on after the last key it deleted, so a pass reads
   * the table once, with no index on refilled_at that every take would have to update), `FOR UPDATE SKIP LOCKED` so
   * a bucket being taken from right now is neither waited for nor deleted (the lock re-checks the idle condition on
   * the newest version); the DELETE finds the locked rows by ctid (a Tid Scan, not a join over the table). Returns
   * how many were deleted.
   */
  async pruneFull(kind: BucketKind, spec: BucketSpec, opts: PruneOptions): Promise<number> {
    const t = TABLES[kind];
    const idleSeconds = spec.capacity / spec.refillPerSecond;
    let total = 0;
    let after: { key: string | Buffer; operation: string } | null = null;
    for (let batch = 0; batch < (opts.maxBatches ?? 1000); batch++) {
      const rows: { key: string | Buffer; operation: string; n: string }[] = await this.db.query(
        `WITH doomed AS (
           SELECT ctid FROM ${t.table}
           WHERE (${t.key}, operation) > (COALESCE($1, ${t.first}), COALESCE($2, ''::text))
             AND refilled_at < clock_timestamp() - make_interval(secs => $3)
           ORDER BY ${t.key}, operation
           LIMIT $4
           FOR UPDATE SKIP LOCKED),
         gone AS (
           DELETE FROM ${t.table} b WHERE b.ctid = ANY (ARRAY(SELECT ctid FROM doomed)) RETURNING b.${t.key} AS key, b.operation)
         SELECT key, operation, count(*) OVER () AS n FROM gone ORDER BY key DESC, operation DESC LIMIT 1`,
        [after?.key ?? null, after?.operation ?? null, idleSeconds, opts.batchSize],
      );
      if (!rows.length) break;
      const n = Number(rows[0].n);
      total += n;
      if (n < opts.batchSize) break;
      after = { key: rows[0].key, operation: rows[0].operation };
    }
    return total;
  }
}
