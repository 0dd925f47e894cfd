import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '#config';
import { BucketSpec, RateLimitRepository } from '#db';
import { databaseUnavailable, OpenReadError } from '../common/errors.js';
import { clientKey } from './client-address.js';

/** The operation name of the one client bucket shared by every protected operation called without a valid session. */
export const UNAUTHENTICATED_OPERATION = 'unauthenticated';

/**
 * Token buckets in Postgres, shared by every API instance:
 * - per signed-in account and root operation (`consume`);
 * - per client address and root operation for calls without a session (`consumeClient`): the address is stored
 *   only as a keyed hash (client-address.ts), and the row goes once the bucket is full again (PruneService).
 * Fails closed: when the store cannot answer, the request is refused, never let through: DATABASE_UNAVAILABLE
 * (retryable) when Postgres is down or too slow (the client did nothing to be limited for), RATE_LIMITED (reason
 * LIMITER_UNAVAILABLE) when the store answered with an error.
 */
@Injectable()
export class RateLimitService {
  private readonly logger = new Logger(RateLimitService.name);
  /** HMAC key for client addresses: configured (shared by instances) or random per process */
  private readonly clientSecret: Buffer;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly buckets: RateLimitRepository,
  ) {
    this.clientSecret = config.api.rateLimitClientKey ? Buffer.from(config.api.rateLimitClientKey, 'utf8') : randomBytes(32);
  }

  get accountSpec(): BucketSpec {
    return { capacity: this.config.api.rateLimitBurst, refillPerSecond: this.config.api.rateLimitPerSecond };
  }

  get clientSpec(): BucketSpec {
    return { capacity: this.config.api.publicRateLimitBurst, refillPerSecond: this.config.api.publicRateLimitPerSecond };
  }

  /** A signed-in account's request calling a root operation `cost` times (aliases). */
  consume(account: string, operation: string, cost = 1): Promise<void> {
    const spec = this.accountSpec;
    return this.spend(operation, spec, () => this.buckets.take(account, operation, spec, cost));
  }

  /**
   * A request without a session, from the client at `address` (as Express or the WebSocket upgrade saw it), calling
   * `operation` `cost` times (aliases); `spec` for a bucket with its own size (sign-ins of accounts without a role).
   */
  consumeClient(address: string | undefined, operation: string, cost = 1, spec: BucketSpec = this.clientSpec): Promise<void> {
    return this.spend(operation, spec, () => this.buckets.takeClient(clientKey(address, this.clientSecret), operation, spec, cost));
  }

  private async spend(operation: string, spec: BucketSpec, take: () => Promise<boolean>): Promise<void> {
    let allowed: boolean;
    try {
      allowed = await take();
    } catch (e) {
      const down = databaseUnavailable(e);
      if (down) throw down;
      // neither the account nor the client address is logged; the error text is Postgres', not the request's
      this.logger.error(`rate limiter store failed, refusing ${operation}: ${(e as Error).message}`);
      throw new OpenReadError('RATE_LIMITED', 'the rate limiter is unavailable; try again shortly', { reason: 'LIMITER_UNAVAILABLE' });
    }
    if (!allowed)
      throw new OpenReadError('RATE_LIMITED', `too many ${operation} requests; slow down`, {
        reason: 'TOO_MANY_REQUESTS',
        retryAfterSeconds: Math.ceil(1 / spec.refillPerSecond),
      });
  }
}
