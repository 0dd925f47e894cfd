import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-account rate limits (issue 6): one token bucket per (account, operation). The whole check-and-take is a
 * single UPSERT (RateLimitRepository.take), so concurrent requests cannot both spend the last token.
 */
export class RateLimits1764510000000 implements MigrationInterface {
  name = 'RateLimits1764510000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rate_limit_buckets (
        account     text             NOT NULL,
        operation   text             NOT NULL,
        tokens      double precision NOT NULL,
        refilled_at timestamptz      NOT NULL,
        PRIMARY KEY (account, operation)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE rate_limit_buckets`);
  }
}
