import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { type AlertPosition, ExchangeAlertsRepository } from '#db';
import { AuthService, RoleService } from '../auth/index.js';
import { OpenReadError } from '../common/errors.js';
import { type AccessAlert, toAccessAlert } from './exchange.models.js';
import { type ExchangeCaller, ExchangeService } from './exchange.service.js';

/** One subscriber's queue: an AsyncIterator graphql-ws pulls from. */
class AlertQueue implements AsyncIterableIterator<AccessAlert> {
  private readonly queue: AccessAlert[] = [];
  private waiting?: { resolve: (r: IteratorResult<AccessAlert>) => void; reject: (e: Error) => void };
  private error?: OpenReadError;
  closed = false;
  constructor(
    readonly account: string,
    readonly roId: string,
    /** the exchange ROs (principal accounts) whose custody alerts this subscriber receives; refreshed as it runs */
    public ros: Set<string>,
    /** the Authorization the subscription was made with: re-checked while it runs */
    readonly authorization: string | undefined,
    private readonly onClose: (q: AlertQueue) => void,
  ) {}
  /** Ends the feed with a typed error for the client (its session or membership is gone); queued alerts are dropped. */
  fail(error: OpenReadError) {
    if (this.closed) return;
    this.error = error;
    this.queue.length = 0;
    this.closed = true;
    this.onClose(this);
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(error);
  }
  push(a: AccessAlert) {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: a, done: false });
    } else if (this.queue.length < 10_000) this.queue.push(a); // a client that never reads loses the overflow
  }
  next(): Promise<IteratorResult<AccessAlert>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.error) return Promise.reject(this.error);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }
  return(): Promise<IteratorResult<AccessAlert>> {
    this.closed = true;
    this.onClose(this);
    this.waiting?.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator]() {
    return this;
  }
}

/** Rows per log per page, and pages per poll (a backlog is worked off over several polls, never cut off). */
const PAGE = 500;
const PAGES_PER_POLL = 8;

/**
 * accessAlerts: fed like the live worklist (StudyFeed), by polling the API's own database while anyone is
 * subscribed, never by a request: the indexed event log (ExpiredUseRecorded, in the order the indexer stored it) and
 * the access log (FETCH_LEASE refused with LEASE_EXPIRED, which leasedStudy writes), each from its own cursor. Each
 * alert goes to the subscribers whose RO is the custodian. Correct with several API instances and across restarts,
 * at the cost of one poll interval (API_FEED_POLL_MS) of latency; no leasedStudy request waits on it.
 */
@Injectable()
export class AccessAlertFeed implements OnApplicationShutdown {
  private readonly logger = new Logger('AccessAlertFeed');
  private readonly queues = new Set<AlertQueue>();
  private cursor: AlertPosition | null = null;
  private timer?: NodeJS.Timeout;
  private polling = false;
  /** when the subscribers' sessions and memberships were last checked (ms) */
  private authorisedAt = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: ExchangeAlertsRepository,
    private readonly exchange: ExchangeService,
    private readonly auth: AuthService,
    private readonly roles: RoleService,
  ) {}

  /**
   * Alerts from now on for the custodian RO `roId`; FORBIDDEN at once for a caller who is not its member (nor an
   * admin). An account holds at most API_MAX_FEEDS_PER_ACCOUNT alert feeds on this instance; one more is RATE_LIMITED.
   */
  async subscribe(caller: ExchangeCaller, roId: string, authorization: string | undefined): Promise<AsyncIterableIterator<AccessAlert>> {
    const ros = await this.exchange.exchangeRos(caller, roId);
    const max = this.config.api.maxFeedsPerAccount;
    let held = 0;
    for (const q of this.queues) if (q.account === caller.address) held++;
    if (held >= max)
      throw new OpenReadError('RATE_LIMITED', `an account may hold at most ${max} access alert feeds; close one first`, {
        reason: 'TOO_MANY_FEEDS',
      });
    // registered before the next await, so that concurrent subscriptions count each other
    const queue = new AlertQueue(caller.address, roId, new Set(ros), authorization, (q) => this.queues.delete(q));
    this.queues.add(queue);
    try {
      this.cursor ??= await this.repo.alertHead(this.config.chainId);
    } catch (e) {
      this.queues.delete(queue);
      throw e;
    }
    this.timer ??= setInterval(() => void this.poll(), this.config.api.feedPollMs);
    return queue;
  }

  /** How many alert subscriptions are registered. */
  get subscribers(): number {
    return this.queues.size;
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    for (const q of [...this.queues]) void q.return();
  }

  /**
   * Ends every feed whose session ended (UNAUTHENTICATED) or whose account is no longer a member of its RO
   * (FORBIDDEN), and refreshes the exchange ROs of the others. At most once a second (or once a poll).
   */
  private async reauthorise(): Promise<void> {
    if (Date.now() - this.authorisedAt < Math.max(1000, this.config.api.feedPollMs)) return;
    this.authorisedAt = Date.now();
    for (const q of [...this.queues]) {
      const user = await this.auth.authenticate(q.authorization);
      if (!user || user.address !== q.account) {
        q.fail(new OpenReadError('UNAUTHENTICATED', 'your session ended (signed out or expired); sign in and subscribe again'));
        continue;
      }
      try {
        q.ros = new Set(await this.exchange.exchangeRos({ address: q.account, roles: await this.roles.rolesOf(q.account) }, q.roId));
      } catch (e) {
        if (e instanceof OpenReadError && (e.code === 'FORBIDDEN' || e.code === 'NOT_FOUND')) q.fail(e);
        else throw e;
      }
    }
  }

  private async poll(): Promise<void> {
    if (this.polling || !this.cursor) return;
    if (!this.queues.size) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.cursor = null;
      return;
    }
    this.polling = true;
    try {
      await this.reauthorise();
      const chainId = this.config.chainId;
      const head = await this.repo.alertHead(chainId);
      for (let pages = 0; pages < PAGES_PER_POLL; pages++) {
        const cursor: AlertPosition = this.cursor!;
        if (head.eventId <= cursor.eventId && head.logSeq <= cursor.logSeq) break;
        const page = await this.repo.alertsAfter(chainId, cursor, head, PAGE);
        for (const row of page.alerts) {
          const alert = toAccessAlert(row);
          for (const q of this.queues) if (q.ros.has(row.custodian)) q.push(alert);
        }
        this.cursor = {
          eventId: Math.max(cursor.eventId, page.last.eventId),
          logSeq: Math.max(cursor.logSeq, page.last.logSeq),
        };
        if (!page.full) break;
      }
    } catch (e) {
      this.logger.warn(`access alert poll failed: ${(e as Error).message}`);
    } finally {
      this.polling = false;
    }
  }
}
