// The rate-limits aggregate (libs/db/src/rate-limits): rate_limit_buckets and rate_limit_client_buckets are
// written only here (take: one UPSERT per request and bucket; pruneFull: batched deletes of full buckets).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { PruneOptions } from '../pruning.js';
import { queryRows, raw, sql } from '../sql.js';

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

/** The last key a prune batch deleted, and how many it deleted. */
interface PrunedKey {
  key: string | Buffer;
  operation: string;
  n: string;
}

@Injectable()
export class RateLimitRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Takes `cost` tokens (a request's root fields of that operation) from the (account, operation) bucket, refilled
   * for the time since it was last touched. Returns false, taking nothing, when the bucket holds fewer. One statement: the row lock of the UPSERT serialises concurrent takers.
   * Errors propagate: the caller must refuse the request (fail closed), never allow it.
   */
  take(account: string, operation: string, spec: BucketSpec, cost = 1): Promise<boolean> {
    return this.takeFrom('account', account, operation, spec, cost);
  }

  /** The same for a client without a session, keyed by the hash of its address (see BucketKind). */
  takeClient(clientKey: Buffer, operation: string, spec: BucketSpec, cost = 1): Promise<boolean> {
    return this.takeFrom('client', clientKey, operation, spec, cost);
  }

  private async takeFrom(kind: BucketKind, key: string | Buffer, operation: string, spec: BucketSpec, cost: number): Promise<boolean> {
    const [table, keyColumn] = [raw(TABLES[kind].table), raw(TABLES[kind].key)];
    const capacity = sql`${spec.capacity}::double precision`;
    const refillPerSecond = sql`${spec.refillPerSecond}::double precision`;
    const tokens = sql`${cost}::double precision`;
    const rows = await queryRows<{ tokens: number }>(
      this.db,
      sql`INSERT INTO ${table} AS b (${keyColumn}, operation, tokens, refilled_at)
       SELECT ${key}, ${operation}, ${capacity} - ${tokens}, clock_timestamp() WHERE ${capacity} >= ${tokens}
       ON CONFLICT (${keyColumn}, operation) DO UPDATE SET
         tokens = LEAST(${capacity},
                        b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * ${refillPerSecond}) - ${tokens},
         refilled_at = clock_timestamp()
       WHERE LEAST(${capacity},
                   b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * ${refillPerSecond}) >= ${tokens}
       RETURNING tokens`,
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
    const [table, keyColumn, first] = [raw(TABLES[kind].table), raw(TABLES[kind].key), raw(TABLES[kind].first)];
    const idleSeconds = spec.capacity / spec.refillPerSecond;
    let total = 0;
    let after: { key: string | Buffer; operation: string } | null = null;
    for (let batch = 0; batch < (opts.maxBatches ?? 1000); batch++) {
      // (typed here too: `after`, read in the statement, is assigned from these rows)
      const rows: PrunedKey[] = await queryRows<PrunedKey>(
        this.db,
        sql`WITH doomed AS (
           SELECT ctid FROM ${table}
           WHERE (${keyColumn}, operation) > (COALESCE(${after?.key ?? null}, ${first}), COALESCE(${after?.operation ?? null}, ''::text))
             AND refilled_at < clock_timestamp() - make_interval(secs => ${idleSeconds})
           ORDER BY ${keyColumn}, operation
           LIMIT ${opts.batchSize}
           FOR UPDATE SKIP LOCKED),
         gone AS (
           DELETE FROM ${table} b WHERE b.ctid = ANY (ARRAY(SELECT ctid FROM doomed)) RETURNING b.${keyColumn} AS key, b.operation)
         SELECT key, operation, count(*) OVER () AS n FROM gone ORDER BY key DESC, operation DESC LIMIT 1`,
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
