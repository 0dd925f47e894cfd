import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Crash-safe, bounded gasless relaying (issues 13 and 22):
 * - request_hash: the EIP-712 digest of a gasless row's forward request (what its signer signed). Unique: sending
 *   the same signed request again answers the existing row, whatever its status, and the client can ask for the
 *   status by this hash;
 * - purpose 'nonce-fill': a 0-value transfer from a key to itself that uses up a nonce whose transaction the node
 *   refused after the nonce was committed, so the key's later transactions do not wait behind a nonce gap for ever.
 */
export class RelayHardening1765100000000 implements MigrationInterface {
  name = 'RelayHardening1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE relay_requests ADD COLUMN request_hash text CHECK (request_hash ~ '^0x[0-9a-f]{64}$')`);
    await q.query(
      `CREATE UNIQUE INDEX relay_requests_request_hash ON relay_requests (chain_id, request_hash) WHERE request_hash IS NOT NULL`,
    );
    await q.query(`ALTER TABLE relay_requests DROP CONSTRAINT relay_requests_purpose_check`);
    await q.query(`
      ALTER TABLE relay_requests ADD CONSTRAINT relay_requests_purpose_check
        CHECK (purpose IN ('gasless','governance','treasury','settlement','anchor','nonce-fill'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM relay_requests WHERE purpose = 'nonce-fill'`);
    await q.query(`ALTER TABLE relay_requests DROP CONSTRAINT relay_requests_purpose_check`);
    await q.query(`
      ALTER TABLE relay_requests ADD CONSTRAINT relay_requests_purpose_check
        CHECK (purpose IN ('gasless','governance','treasury','settlement','anchor'))`);
    await q.query(`DROP INDEX relay_requests_request_hash`);
    await q.query(`ALTER TABLE relay_requests DROP COLUMN request_hash`);
  }
}
