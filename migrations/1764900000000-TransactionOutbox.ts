import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One durable outbox for every transaction the platform sends (issue 12): the relay outbox of gasless requests
 * (1764510100000-RelayOutbox) also carries the service keys' calls (governance votes, queue and execute, Safe
 * payouts, settlements, access-log anchors), drained by the one sender in the worker app (apps/settler).
 * - purpose: what the row is for; only 'gasless' rows carry a forward request (forwarder, signer, its nonce,
 *   deadline, signature), the others are a plain call (target, data) from their sending key;
 * - sender: the key that must send the row (one sender per key holds the key's advisory lock); NULL only for
 *   gasless rows queued before this migration (the gasless key takes them);
 * - dedupe_key: one live (queued or in flight) row per (purpose, key), so timers and retries enqueue idempotently
 *   (INSERT … ON CONFLICT DO NOTHING, not check-then-insert); a later row with the same key is allowed once the
 *   earlier one is final (a study released again after a new claim);
 * - gas: NULL = estimated when sent (service calls); for gasless rows the forwarded call's gas, as before;
 * - error_reason: the contract error's name when a row fails at send time (the same typed refusal the API gives).
 */
export class TransactionOutbox1764900000000 implements MigrationInterface {
  name = 'TransactionOutbox1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE relay_requests
        ADD COLUMN purpose text NOT NULL DEFAULT 'gasless'
          CHECK (purpose IN ('gasless','governance','treasury','settlement','anchor')),
        ADD COLUMN sender eth_address,
        ADD COLUMN dedupe_key text,
        ADD COLUMN error_reason text,
        ALTER COLUMN forwarder DROP NOT NULL,
        ALTER COLUMN signer DROP NOT NULL,
        ALTER COLUMN signer_nonce DROP NOT NULL,
        ALTER COLUMN deadline DROP NOT NULL,
        ALTER COLUMN signature DROP NOT NULL,
        ALTER COLUMN gas DROP NOT NULL,
        ALTER COLUMN reserved_wei SET DEFAULT 0`);
    await q.query(`
      ALTER TABLE relay_requests ADD CONSTRAINT relay_requests_gasless_request CHECK (
        purpose <> 'gasless' OR (forwarder IS NOT NULL AND signer IS NOT NULL AND signer_nonce IS NOT NULL
          AND deadline IS NOT NULL AND signature IS NOT NULL AND gas IS NOT NULL))`);
    await q.query(`ALTER TABLE relay_requests ADD CONSTRAINT relay_requests_has_sender CHECK (purpose = 'gasless' OR sender IS NOT NULL)`);
    await q.query(`UPDATE relay_requests SET sender = relayer WHERE relayer IS NOT NULL`);
    await q.query(`
      CREATE UNIQUE INDEX relay_requests_live_dedupe ON relay_requests (chain_id, purpose, dedupe_key)
        WHERE dedupe_key IS NOT NULL AND status IN ('QUEUED','SENT')`);
    await q.query(
      `CREATE INDEX relay_requests_pending_by_sender ON relay_requests (chain_id, sender, id) WHERE status IN ('QUEUED','SENT')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX relay_requests_pending_by_sender`);
    await q.query(`DROP INDEX relay_requests_live_dedupe`);
    await q.query(`DELETE FROM relay_requests WHERE purpose <> 'gasless'`);
    await q.query(`ALTER TABLE relay_requests DROP CONSTRAINT relay_requests_has_sender, DROP CONSTRAINT relay_requests_gasless_request`);
    await q.query(`
      ALTER TABLE relay_requests
        ALTER COLUMN forwarder SET NOT NULL, ALTER COLUMN signer SET NOT NULL, ALTER COLUMN signer_nonce SET NOT NULL,
        ALTER COLUMN deadline SET NOT NULL, ALTER COLUMN signature SET NOT NULL, ALTER COLUMN gas SET NOT NULL,
        ALTER COLUMN reserved_wei DROP DEFAULT,
        DROP COLUMN error_reason, DROP COLUMN dedupe_key, DROP COLUMN sender, DROP COLUMN purpose`);
  }
}
