import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One NPI, one wallet (issue 13 item 11): several wallets credentialed under one NPI would multiply one
 * radiologist's relay limits and claim capacity. Among APPROVED applications (a live credential: revocation moves
 * it to REVOKED) no two of different accounts may carry the same NPI; the approval's UPDATE fails by constraint, so
 * two concurrent approvals cannot both pass. The same account may hold several (a renewal is approved while the
 * earlier approval stands), which a plain unique index on (chain_id, npi) would refuse: hence an exclusion
 * constraint (btree_gist for `=` and `<>` on plain columns). An NPI stays with its wallet after the credential
 * expires, until a verifier revokes it: moving a radiologist to a new wallet is revoke, then approve.
 */
export class OneWalletPerNpi1764910000000 implements MigrationInterface {
  name = 'OneWalletPerNpi1764910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE EXTENSION IF NOT EXISTS btree_gist;
      ALTER TABLE credential_applications ADD CONSTRAINT credential_applications_one_wallet_per_npi
        EXCLUDE USING gist (chain_id WITH =, npi WITH =, applicant WITH <>) WHERE (status = 'APPROVED');
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE credential_applications DROP CONSTRAINT credential_applications_one_wallet_per_npi`);
  }
}
