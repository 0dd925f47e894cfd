import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Radiology organisations (ROs) as accounts of their own: an organisation, the X25519 public key reports are
 * encrypted to, and its members. A member is an account with a role in the RO:
 *   BILLING    billing staff: read the RO's ledger, postings and reports (scoped to their RO)
 *   DEPOSITOR  a wallet that deposits and posts studies on chain for the RO (its market balance is the RO's)
 * A depositor wallet belongs to at most one RO, so every on-chain posting maps to exactly one RO.
 * Encryption keys (X25519, raw 32 bytes) of radiologists are registered per account; the matching private key
 * never reaches the server.
 */
export class RoAccounts1764600000000 implements MigrationInterface {
  name = 'RoAccounts1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE radiology_orgs (
        id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        chain_id    integer NOT NULL,
        name        text    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        public_key  bytea   NOT NULL CHECK (length(public_key) = 32),
        created_by  eth_address NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT radiology_orgs_name_unique UNIQUE (chain_id, name)
      );

      CREATE TABLE ro_members (
        ro_id       uuid NOT NULL REFERENCES radiology_orgs (id),
        chain_id    integer NOT NULL,
        account     eth_address NOT NULL,
        role        text NOT NULL CHECK (role IN ('BILLING', 'DEPOSITOR')),
        added_by    eth_address NOT NULL,
        added_at    timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ro_members_pk PRIMARY KEY (ro_id, account, role)
      );
      -- a wallet posts for one RO only: its on-chain studies and balance belong to exactly one organisation
      CREATE UNIQUE INDEX ro_members_one_ro_per_depositor ON ro_members (chain_id, account) WHERE role = 'DEPOSITOR';
      CREATE INDEX ro_members_account_idx ON ro_members (chain_id, account);

      CREATE TABLE encryption_keys (
        chain_id      integer NOT NULL,
        account       eth_address NOT NULL,
        public_key    bytea NOT NULL CHECK (length(public_key) = 32),
        registered_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT encryption_keys_pk PRIMARY KEY (chain_id, account)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE encryption_keys, ro_members, radiology_orgs`);
  }
}
