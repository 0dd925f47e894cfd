import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface BucketSpec {
  /** most tokens a bucket holds (the burst) */
  capacity: number;
  /** tokens added per second */
  refillPerSecond: number;
}

@Injectable()
export class RateLimitRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Takes one token from the (account, operation) bucket, refilled for the time since it was last touched.
   * Returns false when the bucket is empty. One statement: the row lock of the UPSERT serialises concurrent takers.
   * Errors propagate: the caller must refuse the request (fail closed), never allow it.
   */
  async take(account: string, operation: string, spec: BucketSpec): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO rate_limit_buckets AS b (account, operation, tokens, refilled_at)
       VALUES ($1, $2, $3::double precision - 1, clock_timestamp())
       ON CONFLICT (account, operation) DO UPDATE SET
         tokens = LEAST($3::double precision,
                        b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * $4::double precision) - 1,
         refilled_at = clock_timestamp()
       WHERE LEAST($3::double precision,
                   b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * $4::double precision) >= 1
       RETURNING tokens`,
      [account, operation, spec.capacity, spec.refillPerSecond],
    );
    return rows.length > 0;
  }
}
