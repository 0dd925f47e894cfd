import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../../libs/config/src/index.js';
import { RateLimitRepository } from '../../../../libs/db/src/index.js';
import { OpenReadError } from '../common/errors.js';

/**
 * Per-account, per-operation token buckets in Postgres (shared by every API instance). Fails closed: when the
 * store cannot answer, the request is refused with RATE_LIMITED (reason LIMITER_UNAVAILABLE), never let through.
 */
@Injectable()
export class RateLimitService {
  private readonly logger = new Logger(RateLimitService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly buckets: RateLimitRepository,
  ) {}

  async consume(account: string, operation: string): Promise<void> {
    let allowed: boolean;
    try {
      allowed = await this.buckets.take(account, operation, {
        capacity: this.config.api.rateLimitBurst,
        refillPerSecond: this.config.api.rateLimitPerSecond,
      });
    } catch (e) {
      // the address is not PHI; the error text is Postgres', not the request's
      this.logger.error(`rate limiter store failed, refusing ${operation}: ${(e as Error).message}`);
      throw new OpenReadError('RATE_LIMITED', 'the rate limiter is unavailable; try again shortly', { reason: 'LIMITER_UNAVAILABLE' });
    }
    if (!allowed)
      throw new OpenReadError('RATE_LIMITED', `too many ${operation} requests; slow down`, {
        reason: 'TOO_MANY_REQUESTS',
        retryAfterSeconds: Math.ceil(1 / this.config.api.rateLimitPerSecond),
      });
  }
}
