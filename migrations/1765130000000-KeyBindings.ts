import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Encryption keys bound to wallets (issue 13, item 4):
 * - encryption_keys.binding: the account's EIP-712 signature binding its X25519 key to its address
 *   (libs/lease key-binding.ts). NULL for keys registered before this migration: the RO side seals to no unbound
 *   key, so those radiologists register again.
 * - study_leases.report_key: the RO's report key as signed in the lease, so the radiologist seals the report to a
 *   key the RO signed for. NULL for leases signed before this migration (their signature does not cover it).
 */
export class KeyBindings1765130000000 implements MigrationInterface {
  name = 'KeyBindings1765130000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE encryption_keys ADD COLUMN binding text CHECK (length(binding) <= 8194)`);
    await q.query(`ALTER TABLE study_leases ADD COLUMN report_key bytea CHECK (length(report_key) = 32)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE study_leases DROP COLUMN report_key`);
    await q.query(`ALTER TABLE encryption_keys DROP COLUMN binding`);
  }
}
