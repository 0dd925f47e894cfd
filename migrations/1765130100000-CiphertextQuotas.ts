import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Stored ciphertext quotas (issue 13, item 13):
 * - study_reports.claim_expires_at: the claim (its lease expiry on chain) a report was stored for; one report per
 *   claim (the unique index), so a claimant cannot store report after report. NULL for reports stored before this
 *   migration (NULLs never collide).
 * - study_postings_ro_prepared_idx: counts an RO's recently prepared postings for its quota of unposted studies.
 */
export class CiphertextQuotas1765130100000 implements MigrationInterface {
  name = 'CiphertextQuotas1765130100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE study_reports ADD COLUMN claim_expires_at bigint`);
    await q.query(`CREATE UNIQUE INDEX study_reports_one_per_claim ON study_reports (chain_id, study_id, radiologist, claim_expires_at)`);
    await q.query(`CREATE INDEX study_postings_ro_prepared_idx ON study_postings (ro_id, prepared_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX study_postings_ro_prepared_idx`);
    await q.query(`DROP INDEX study_reports_one_per_claim`);
    await q.query(`ALTER TABLE study_reports DROP COLUMN claim_expires_at`);
  }
}
