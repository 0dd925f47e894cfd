import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Exchange lease fetches in the study access log (issue 14): the API's leasedStudy writes FETCH_LEASE rows to
 * study_access_log (every package served and every refused attempt), so the custodian RO can list who fetched, or
 * tried to fetch after expiry, a lease of a study it holds. Only the action's closed list grows; rows stay
 * append-only and hash-chained as before.
 */
export class LeaseAccessLog1765290000000 implements MigrationInterface {
  name = 'LeaseAccessLog1765290000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE study_access_log DROP CONSTRAINT study_access_log_action_check;
      ALTER TABLE study_access_log ADD CONSTRAINT study_access_log_action_check
        CHECK (action IN ('FETCH_PAYLOAD', 'FETCH_REPORT', 'FETCH_LEASE'));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE study_access_log DROP CONSTRAINT study_access_log_action_check;
      ALTER TABLE study_access_log ADD CONSTRAINT study_access_log_action_check CHECK (action IN ('FETCH_PAYLOAD', 'FETCH_REPORT'));
    `);
  }
}
