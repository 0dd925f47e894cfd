// The auth aggregate (libs/db/src/auth): auth_nonces and sessions are written only by this repository (sign-in,
// sign-out, and the prune loops' batched deletes). role.repository.ts only reads what the indexer projected
// (credentials, contract_roles: projections/roles.projection.ts) and ro_members.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { PruneOptions } from '../pruning.js';
import { execute, queryRows, raw, sql } from '../sql.js';

/**
 * Postgres NOTIFY channel of what the API caches about a request's caller (apps/api/src/auth/auth-cache.ts): payload
 * `session:<token hash>` when a session is deleted (logout), `roles` when a table the roles are read from changed
 * (triggers of migration AuthChangeNotify).
 */
export const AUTH_CHANGED = 'openread_auth_changed';

@Injectable()
export class AuthRepository {
  constructor(private readonly db: DataSource) {}

  async createNonce(nonce: string, ttlSeconds: number): Promise<Date> {
    const [row] = await queryRows<{ expires_at: Date }>(
      this.db,
      sql`INSERT INTO auth_nonces (nonce, expires_at) VALUES (${nonce}, now() + make_interval(secs => ${ttlSeconds})) RETURNING expires_at`,
    );
    return row.expires_at;
  }

  /** Marks the nonce used; true only for the one caller that used a live, unused nonce (atomic, no check-then-set). */
  async consumeNonce(nonce: string): Promise<boolean> {
    const { rows } = await execute(
      this.db,
      sql`UPDATE auth_nonces SET used_at = now() WHERE nonce = ${nonce} AND used_at IS NULL AND expires_at > now() RETURNING nonce`,
    );
    return rows.length === 1;
  }

  async createSession(tokenHash: string, address: string, chainId: number, expiresAt: Date): Promise<void> {
    await queryRows(
      this.db,
      sql`INSERT INTO sessions (token_hash, address, chain_id, expires_at) VALUES (${tokenHash}, ${address}, ${chainId}, ${expiresAt})`,
    );
  }

  async findSession(tokenHash: string): Promise<{ address: string; chainId: number; expiresAt: Date } | null> {
    const rows = await queryRows<{ address: string; chain_id: number; expires_at: Date }>(
      this.db,
      sql`SELECT address, chain_id, expires_at FROM sessions WHERE token_hash = ${tokenHash} AND expires_at > now()`,
    );
    return rows.length ? { address: rows[0].address, chainId: Number(rows[0].chain_id), expiresAt: rows[0].expires_at } : null;
  }

  /** Deletes the session and tells every API instance (AUTH_CHANGED, payload `session:<token hash>`) to forget it. */
  async deleteSession(tokenHash: string): Promise<void> {
    await execute(
      this.db,
      sql`WITH gone AS (DELETE FROM sessions WHERE token_hash = ${tokenHash} RETURNING token_hash)
       SELECT pg_notify(${AUTH_CHANGED}, 'session:' || token_hash) FROM gone`,
    );
  }

  /**
   * Deletes expired sign-in nonces, used or not: consumeNonce() accepts only an unexpired one, so an expired row
   * can never sign anyone in. (A used nonce stays until it expires, at most NONCE_TTL_SECONDS, and cannot be used
   * twice meanwhile.) Batched; returns how many were deleted.
   */
  pruneNonces(opts: PruneOptions): Promise<number> {
    return this.pruneExpired('auth_nonces', opts);
  }

  /** Deletes expired sessions (findSession() ignores them; logout deletes its own at once). */
  pruneSessions(opts: PruneOptions): Promise<number> {
    return this.pruneExpired('sessions', opts);
  }

  private async pruneExpired(table: 'auth_nonces' | 'sessions', opts: PruneOptions): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < (opts.maxBatches ?? 1000); batch++) {
      const [{ n }] = await queryRows<{ n: number }>(
        this.db,
        sql`WITH doomed AS (
           SELECT ctid FROM ${raw(table)} WHERE expires_at < now() ORDER BY expires_at LIMIT ${opts.batchSize} FOR UPDATE SKIP LOCKED),
         gone AS (DELETE FROM ${raw(table)} t WHERE t.ctid = ANY (ARRAY(SELECT ctid FROM doomed)) RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
      );
      total += n;
      if (n < opts.batchSize) break;
    }
    return total;
  }
}
