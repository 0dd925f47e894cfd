import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, PollingLoop, RepeatLog, type AppConfig } from '#config';
import { AuthRepository, type BucketSpec, RateLimitRepository, RelayOutboxRepository } from '#db';

export interface PruneCounts {
  accountBuckets: number;
  clientBuckets: number;
  nonces: number;
  sessions: number;
  relayRequests: number;
}

/**
 * Deletes what nothing needs any more, every PRUNE_INTERVAL_MS, in the worker app (not in the request-serving API;
 * several workers are fine: concurrent passes skip each other's rows): rate-limit buckets that are full again (for client buckets, the end of the keeping of the hashed
 * address), expired sign-in nonces and sessions, and final relay requests older than RELAY_RETENTION_HOURS (never
 * inside the spend window, never a pending one). The SQL is in the repositories; each DELETE is one short batch.
 * One kind failing (e.g. its table is unavailable) does not stop the others. Logs only counts.
 */
@Injectable()
export class PruneService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Prune');
  private readonly failures = new RepeatLog(this.logger);
  private readonly loop: PollingLoop;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly buckets: RateLimitRepository,
    private readonly auth: AuthRepository,
    private readonly relays: RelayOutboxRepository,
  ) {
    this.loop = new PollingLoop(
      () => this.pass(),
      config.api.pruneIntervalMs,
      (e) => this.failures.error(`prune pass failed: ${e.message}`),
      () => this.failures.ok('pruning recovered'),
      'prune',
    );
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** The API's bucket shapes (apps/api RateLimitService reads the same settings): a bucket is full again at capacity. */
  private spec(kind: 'account' | 'client'): BucketSpec {
    const a = this.config.api;
    return kind === 'account'
      ? { capacity: a.rateLimitBurst, refillPerSecond: a.rateLimitPerSecond }
      : { capacity: a.publicRateLimitBurst, refillPerSecond: a.publicRateLimitPerSecond };
  }

  /** One pass over every kind; throws (after trying them all) if any failed. */
  async pass(): Promise<PruneCounts> {
    const opts = { batchSize: this.config.api.pruneBatchSize };
    const jobs: [keyof PruneCounts, () => Promise<number>][] = [
      ['accountBuckets', () => this.buckets.pruneFull('account', this.spec('account'), opts)],
      ['clientBuckets', () => this.buckets.pruneFull('client', this.spec('client'), opts)],
      ['nonces', () => this.auth.pruneNonces(opts)],
      ['sessions', () => this.auth.pruneSessions(opts)],
      ['relayRequests', () => this.relays.pruneFinal(this.config.chainId, this.config.relay.retentionHours, opts)],
    ];
    const counts = { accountBuckets: 0, clientBuckets: 0, nonces: 0, sessions: 0, relayRequests: 0 } satisfies PruneCounts;
    const failed: string[] = [];
    for (const [kind, job] of jobs) {
      try {
        counts[kind] = await job();
      } catch (e) {
        failed.push(`${kind}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total > 0)
      this.logger.log(
        `pruned ${counts.accountBuckets} account and ${counts.clientBuckets} client buckets, ${counts.nonces} nonces, ` +
          `${counts.sessions} sessions, ${counts.relayRequests} relay requests`,
      );
    if (failed.length) throw new Error(failed.join('; '));
    return counts;
  }
}
