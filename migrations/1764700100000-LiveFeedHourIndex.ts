import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The live worklist's escalation events (StudyFeedRepository.escalated): a study's hours of waiting tick over at
 * times congruent to its posted_at modulo 3600, so the open studies whose bounty may have grown in a poll's time
 * window are an index range of posted_at % 3600 instead of a scan of every open study.
 */
export class LiveFeedHourIndex1764700100000 implements MigrationInterface {
  name = 'LiveFeedHourIndex1764700100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX studies_open_hour_idx ON studies (chain_id, (posted_at % 3600)) WHERE status = 'OPEN'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX studies_open_hour_idx`);
  }
}
