import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Gasless relaying (issue 6): the outbox of radiologists' signed ERC-2771 forward requests. A row is written
 * before anything is sent, and the signed relayer transaction is stored before it is broadcast, so a restart
 * re-broadcasts or re-checks instead of sending twice.
 * - one live request per (forwarder, signer, forwarder nonce): a replayed or conflicting request is refused by the
 *   index, not by a check. FAILED rows (refused before sending; the forwarder nonce was not consumed) and
 *   REVERTED rows (the forwarder reverted, so its nonce was not consumed either) do not hold the nonce;
 * - one request per (relayer, relayer nonce): a replacement re-signs the same row, same nonce, higher fee;
 * - relayer_nonces: the next nonce of each relayer account, advanced under its row lock.
 */
export class RelayOutbox1764510100000 implements MigrationInterface {
  name = 'RelayOutbox1764510100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE relay_requests (
        id            bigserial    PRIMARY KEY,
        chain_id      integer      NOT NULL,
        forwarder     eth_address  NOT NULL,
        signer        eth_address  NOT NULL,
        signer_nonce  numeric(78,0) NOT NULL,
        target        eth_address  NOT NULL,
        function      text         NOT NULL,
        data          text         NOT NULL,
        gas           numeric(78,0) NOT NULL,
        deadline      bigint       NOT NULL,
        signature     text         NOT NULL,
        reserved_wei  numeric(78,0) NOT NULL,
        status        text         NOT NULL DEFAULT 'QUEUED'
                      CHECK (status IN ('QUEUED','SENT','MINED','REVERTED','FAILED')),
        relayer       eth_address,
        relayer_nonce bigint,
        attempts      jsonb        NOT NULL DEFAULT '[]',
        raw_tx        text,
        tx_hash       text,
        block_number  bigint,
        cost_wei      numeric(78,0),
        error_code    text,
        error_message text,
        created_at    timestamptz  NOT NULL DEFAULT now(),
        updated_at    timestamptz  NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE UNIQUE INDEX relay_requests_live_signer_nonce ON relay_requests (chain_id, forwarder, signer, signer_nonce)
        WHERE status IN ('QUEUED','SENT','MINED')`);
    await q.query(`CREATE UNIQUE INDEX relay_requests_relayer_nonce ON relay_requests (chain_id, relayer, relayer_nonce)`);
    await q.query(`CREATE INDEX relay_requests_pending ON relay_requests (chain_id, id) WHERE status IN ('QUEUED','SENT')`);
    await q.query(`CREATE INDEX relay_requests_spend ON relay_requests (chain_id, signer, created_at)`);
    await q.query(`
      CREATE TABLE relayer_nonces (
        chain_id   integer     NOT NULL,
        relayer    eth_address NOT NULL,
        next_nonce bigint      NOT NULL,
        PRIMARY KEY (chain_id, relayer)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE relayer_nonces`);
    await q.query(`DROP TABLE relay_requests`);
  }
}
