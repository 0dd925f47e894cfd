import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The imaging exchange as the indexer projects it from RoDirectory and StudyCustody (issue 14), and the ledger kinds
 * of its money. Written only by apps/indexer/src/store/projections/exchange.projection.ts, each row a function of
 * its entity's events (a reorg deletes and replays them):
 * - exchange_ros, exchange_ro_accounts, exchange_ro_keys: the directory (ROs by principal account, the accounts that
 *   act for them, their keys with rotation and revocation);
 * - exchange_custody and exchange_custody_history: who holds each registered study, and every owner it had;
 * - exchange_leases: RO-to-RO leases (EXPIRED is not a status: a GRANTED/RENEWED lease past expires_at by chain time,
 *   derived when read), with the fees paid out; exchange_expired_uses and exchange_misuse_reports hang off their lease;
 * - exchange_flags: accounts flagged for review after too many misuse reports.
 */
export class Exchange1765250000000 implements MigrationInterface {
  name = 'Exchange1765250000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE exchange_ros (
        chain_id       integer     NOT NULL,
        ro             eth_address NOT NULL,
        admitted_by    eth_address NOT NULL,
        admitted_at    bigint      NOT NULL,
        admitted_block bigint      NOT NULL,
        suspended      boolean     NOT NULL DEFAULT false,
        updated_block  bigint      NOT NULL,
        CONSTRAINT exchange_ros_pk PRIMARY KEY (chain_id, ro)
      );

      CREATE TABLE exchange_ro_accounts (
        chain_id      integer     NOT NULL,
        account       eth_address NOT NULL,
        ro            eth_address NOT NULL,
        added_at      bigint      NOT NULL,
        added_block   bigint      NOT NULL,
        removed_at    bigint,
        removed_block bigint,
        CONSTRAINT exchange_ro_accounts_pk PRIMARY KEY (chain_id, account)
      );
      CREATE INDEX exchange_ro_accounts_ro_idx ON exchange_ro_accounts (chain_id, ro);

      CREATE TABLE exchange_ro_keys (
        chain_id       integer     NOT NULL,
        key_id         uint256     NOT NULL,
        ro             eth_address NOT NULL,
        encryption_key bytes32     NOT NULL,
        signer         eth_address NOT NULL,
        added_at       bigint      NOT NULL,
        added_block    bigint      NOT NULL,
        revoked_at     bigint,
        revoked_block  bigint,
        replaced_by    uint256,
        CONSTRAINT exchange_ro_keys_pk PRIMARY KEY (chain_id, key_id)
      );
      CREATE INDEX exchange_ro_keys_ro_idx ON exchange_ro_keys (chain_id, ro);

      CREATE TABLE exchange_custody (
        chain_id         integer     NOT NULL,
        study_id         bytes32     NOT NULL,
        ro               eth_address NOT NULL,
        manifest_hash    bytes32     NOT NULL,
        registered_at    bigint      NOT NULL,
        registered_block bigint      NOT NULL,
        updated_block    bigint      NOT NULL,
        CONSTRAINT exchange_custody_pk PRIMARY KEY (chain_id, study_id)
      );
      CREATE INDEX exchange_custody_ro_idx ON exchange_custody (chain_id, ro);

      CREATE TABLE exchange_custody_history (
        chain_id     integer     NOT NULL,
        study_id     bytes32     NOT NULL,
        ro           eth_address NOT NULL,
        from_ro      eth_address,
        by_account   eth_address,
        tx_hash      bytes32     NOT NULL,
        log_index    integer     NOT NULL,
        block_number bigint      NOT NULL,
        block_time   bigint      NOT NULL,
        CONSTRAINT exchange_custody_history_pk PRIMARY KEY (chain_id, study_id, block_number, log_index)
      );

      CREATE TABLE exchange_leases (
        chain_id          integer     NOT NULL,
        lease_id          uint256     NOT NULL,
        study_id          bytes32     NOT NULL,
        requester         eth_address NOT NULL,
        key_id            uint256     NOT NULL,
        period            bigint      NOT NULL,
        fee               uint256     NOT NULL,
        max_renewals      integer     NOT NULL,
        renewals_left     integer     NOT NULL,
        renewals          integer     NOT NULL DEFAULT 0,
        status            text        NOT NULL CHECK (status IN ('REQUESTED','GRANTED','DENIED','CANCELLED','RENEWED')),
        custodian         eth_address,
        requested_at      bigint      NOT NULL,
        requested_block   bigint      NOT NULL,
        answered_at       bigint,
        expires_at        bigint,
        wrapped_key_hash  bytes32,
        ciphertext_hash   bytes32,
        refund            uint256,
        paid_to_custodian uint256     NOT NULL DEFAULT 0,
        protocol_fees     uint256     NOT NULL DEFAULT 0,
        storage_share     uint256     NOT NULL DEFAULT 0,
        updated_block     bigint      NOT NULL,
        CONSTRAINT exchange_leases_pk PRIMARY KEY (chain_id, lease_id)
      );
      CREATE INDEX exchange_leases_requester_idx ON exchange_leases (chain_id, requester, lease_id);
      CREATE INDEX exchange_leases_study_idx ON exchange_leases (chain_id, study_id);

      CREATE TABLE exchange_expired_uses (
        chain_id     integer     NOT NULL,
        lease_id     uint256     NOT NULL,
        account      eth_address NOT NULL,
        recorder     eth_address NOT NULL,
        tx_hash      bytes32     NOT NULL,
        log_index    integer     NOT NULL,
        block_number bigint      NOT NULL,
        block_time   bigint      NOT NULL,
        CONSTRAINT exchange_expired_uses_pk PRIMARY KEY (chain_id, block_number, log_index)
      );
      CREATE INDEX exchange_expired_uses_lease_idx ON exchange_expired_uses (chain_id, lease_id);

      CREATE TABLE exchange_misuse_reports (
        chain_id     integer     NOT NULL,
        lease_id     uint256     NOT NULL,
        account      eth_address NOT NULL,
        reporter     eth_address NOT NULL,
        count        integer     NOT NULL,
        tx_hash      bytes32     NOT NULL,
        log_index    integer     NOT NULL,
        block_number bigint      NOT NULL,
        block_time   bigint      NOT NULL,
        CONSTRAINT exchange_misuse_reports_pk PRIMARY KEY (chain_id, lease_id)
      );
      CREATE INDEX exchange_misuse_reports_account_idx ON exchange_misuse_reports (chain_id, account);

      CREATE TABLE exchange_flags (
        chain_id      integer     NOT NULL,
        account       eth_address NOT NULL,
        flagged       boolean     NOT NULL,
        count         integer     NOT NULL,
        flagged_at    bigint      NOT NULL,
        flagged_block bigint      NOT NULL,
        cleared_at    bigint,
        cleared_block bigint,
        CONSTRAINT exchange_flags_pk PRIMARY KEY (chain_id, account)
      );

      ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
      ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (
        'DEPOSIT','WITHDRAWAL','ESCROW','LOCK','LOCK_RELEASED','DISPUTE','PAYOUT','FEE','REFUND',
        'EXCHANGE_DEPOSIT','EXCHANGE_WITHDRAWAL','LEASE_ESCROW','LEASE_PAYMENT','LEASE_PROTOCOL_FEE','LEASE_STORAGE_SHARE',
        'LEASE_REFUND','LEASE_INCOME'));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DELETE FROM ledger_entries WHERE kind NOT IN ('DEPOSIT','WITHDRAWAL','ESCROW','LOCK','LOCK_RELEASED','DISPUTE','PAYOUT','FEE','REFUND');
      ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
      ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
        CHECK (kind IN ('DEPOSIT','WITHDRAWAL','ESCROW','LOCK','LOCK_RELEASED','DISPUTE','PAYOUT','FEE','REFUND'));
      DROP TABLE exchange_flags, exchange_misuse_reports, exchange_expired_uses, exchange_leases, exchange_custody_history,
        exchange_custody, exchange_ro_keys, exchange_ro_accounts, exchange_ros;
    `);
  }
}
