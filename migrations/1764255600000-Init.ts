import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema. Chain times are unix seconds (bigint) so the worklist can compute bounties with the
 * contract's integer arithmetic; token amounts are numeric(78,0) (uint256).
 * Projections (studies, credentials, parameters, ledger) are derived from chain_events and carry the
 * block that last touched them, so a rollback to a block can delete and replay (reorgs: issue 5).
 */
export class Init1764255600000 implements MigrationInterface {
  name = 'Init1764255600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE DOMAIN eth_address AS text CHECK (VALUE ~ '^0x[0-9a-f]{40}$');
      CREATE DOMAIN bytes32 AS text CHECK (VALUE ~ '^0x[0-9a-f]{64}$');
      CREATE DOMAIN uint256 AS numeric(78,0) CHECK (VALUE >= 0);

      CREATE TABLE indexer_checkpoints (
        chain_id     integer NOT NULL,
        stream       text    NOT NULL,
        block_number bigint  NOT NULL,
        block_hash   bytes32,
        block_time   bigint,
        updated_at   timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT indexer_checkpoints_pk PRIMARY KEY (chain_id, stream)
      );

      CREATE TABLE chain_events (
        id           bigserial PRIMARY KEY,
        chain_id     integer NOT NULL,
        block_number bigint  NOT NULL,
        block_hash   bytes32 NOT NULL,
        block_time   bigint  NOT NULL,
        tx_hash      bytes32 NOT NULL,
        log_index    integer NOT NULL,
        contract     eth_address NOT NULL,
        name         text    NOT NULL,
        args         jsonb   NOT NULL,
        CONSTRAINT chain_events_log_unique UNIQUE (chain_id, tx_hash, log_index)
      );
      CREATE INDEX chain_events_block_idx ON chain_events (chain_id, block_number);

      CREATE TABLE studies (
        chain_id         integer NOT NULL,
        study_id         bytes32 NOT NULL,
        ro               eth_address NOT NULL,
        modality         text    NOT NULL,
        difficulty_bps   integer NOT NULL,
        urgency          text    NOT NULL,
        patient_state    char(2) NOT NULL,
        max_bounty       uint256 NOT NULL,
        posted_at        bigint  NOT NULL,
        status           text    NOT NULL CHECK (status IN ('OPEN','CLAIMED','REPORTED','DISPUTED','SETTLED','CANCELLED')),
        radiologist      eth_address,
        locked_bounty    uint256,
        fee_bps          integer,
        claimed_at       bigint,
        lease_expires_at bigint,
        report_hash      bytes32,
        reported_at      bigint,
        dispute_deadline bigint,
        payout           uint256,
        fee              uint256,
        refund           uint256,
        settled_at       bigint,
        posted_tx        bytes32 NOT NULL,
        posted_block     bigint  NOT NULL,
        updated_block    bigint  NOT NULL,
        CONSTRAINT studies_pk PRIMARY KEY (chain_id, study_id)
      );
      -- the worklist reads open studies oldest first / by bounty; claims by radiologist
      CREATE INDEX studies_open_idx ON studies (chain_id, posted_at, study_id) WHERE status = 'OPEN';
      CREATE INDEX studies_radiologist_idx ON studies (chain_id, radiologist) WHERE radiologist IS NOT NULL;
      CREATE INDEX studies_ro_idx ON studies (chain_id, ro);

      CREATE TABLE credentials (
        chain_id      integer NOT NULL,
        radiologist   eth_address NOT NULL,
        states        text[]  NOT NULL,
        modalities    text[]  NOT NULL,
        expires_at    bigint  NOT NULL,
        revoked       boolean NOT NULL DEFAULT false,
        verifier      eth_address NOT NULL,
        updated_block bigint  NOT NULL,
        CONSTRAINT credentials_pk PRIMARY KEY (chain_id, radiologist)
      );

      CREATE TABLE incentive_parameters (
        chain_id      integer NOT NULL,
        name          text    NOT NULL,
        key           integer NOT NULL,
        value         uint256 NOT NULL,
        updated_block bigint  NOT NULL,
        tx_hash       bytes32 NOT NULL,
        CONSTRAINT incentive_parameters_pk PRIMARY KEY (chain_id, name, key)
      );

      CREATE TABLE ledger_entries (
        id           bigserial PRIMARY KEY,
        chain_id     integer NOT NULL,
        account      eth_address NOT NULL,
        kind         text    NOT NULL CHECK (kind IN ('DEPOSIT','WITHDRAWAL','ESCROW','LOCK','LOCK_RELEASED','DISPUTE','PAYOUT','FEE','REFUND')),
        amount       uint256 NOT NULL,
        study_id     bytes32,
        counterparty eth_address,
        tx_hash      bytes32 NOT NULL,
        log_index    integer NOT NULL,
        block_number bigint  NOT NULL,
        block_time   bigint  NOT NULL,
        CONSTRAINT ledger_entries_unique UNIQUE (chain_id, tx_hash, log_index, account, kind)
      );
      CREATE INDEX ledger_entries_account_idx ON ledger_entries (chain_id, account, block_number, log_index);

      CREATE TABLE auth_nonces (
        nonce      text PRIMARY KEY,
        expires_at timestamptz NOT NULL,
        used_at    timestamptz
      );

      CREATE TABLE sessions (
        token_hash text PRIMARY KEY,
        address    eth_address NOT NULL,
        chain_id   integer NOT NULL,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE sessions, auth_nonces, ledger_entries, incentive_parameters, credentials, studies,
        chain_events, indexer_checkpoints;
      DROP DOMAIN uint256; DROP DOMAIN bytes32; DROP DOMAIN eth_address;
    `);
  }
}
