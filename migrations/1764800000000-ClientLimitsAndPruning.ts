import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rate limits for calls without a session, and what the API's pruning job needs (issue 6):
 * - rate_limit_client_buckets: a token bucket per (client, operation) for nonce / login / indexerStatus and for
 *   protected operations refused as unauthenticated. `client` is an HMAC-SHA256 of the client's address (an IPv6
 *   one by its /64) under a secret, never the address; a row is deleted once its bucket is full again.
 * - indexes for the batched deletes of expired nonces and sessions and of old final relay requests. The buckets get
 *   none: they are pruned in primary-key order, and an index on refilled_at would cost every take a non-HOT update.
 */
export class ClientLimitsAndPruning1764800000000 implements MigrationInterface {
  name = 'ClientLimitsAndPruning1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rate_limit_client_buckets (
        client      bytea            NOT NULL CHECK (octet_length(client) = 32),
        operation   text             NOT NULL,
        tokens      double precision NOT NULL,
        refilled_at timestamptz      NOT NULL,
        PRIMARY KEY (client, operation)
      )`);
    await q.query(`CREATE INDEX auth_nonces_expires_at ON auth_nonces (expires_at)`);
    await q.query(`CREATE INDEX sessions_expires_at ON sessions (expires_at)`);
    await q.query(`
      CREATE INDEX relay_requests_final ON relay_requests (chain_id, updated_at)
        WHERE status IN ('MINED','REVERTED','FAILED')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX relay_requests_final`);
    await q.query(`DROP INDEX sessions_expires_at`);
    await q.query(`DROP INDEX auth_nonces_expires_at`);
    await q.query(`DROP TABLE rate_limit_client_buckets`);
  }
}
