import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The radiologist's claim lease as a per-claim package (issue 14, item 5; libs/lease claim-lease.ts):
 * - study_leases.ciphertext: this claim's copy of the study, re-encrypted by the RO side under a fresh lease key
 *   (wrapped_key now seals that lease key, not the study key). The API serves it, and only it, while the claim runs.
 * - study_leases.claimed_at: the claim's chain time, part of the signed terms and of the ciphertext's associated data.
 * Both NULL for leases issued before this migration (the study key re-wrapped to the claimant): they are never served,
 * and their claim counts as pending again, so the RO side issues a package that replaces the row.
 */
export class ClaimLeasePackages1765320000000 implements MigrationInterface {
  name = 'ClaimLeasePackages1765320000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE study_leases ADD COLUMN ciphertext bytea, ADD COLUMN claimed_at bigint`);
    await q.query(`ALTER TABLE study_leases ADD CONSTRAINT study_leases_package_check CHECK ((ciphertext IS NULL) = (claimed_at IS NULL))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE study_leases DROP CONSTRAINT study_leases_package_check`);
    await q.query(`ALTER TABLE study_leases DROP COLUMN claimed_at, DROP COLUMN ciphertext`);
  }
}
