import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { FeedPosition, StudyFeedRepository, WorklistRow } from '#db';
import { AuthService, RoleService } from '../auth/index.js';
import { ChainService } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';
import { Study } from '../studies/index.js';
import { WorklistEvent, WorklistEventKind } from './live.models.js';

/** One subscriber's queue: an AsyncIterator graphql-ws pulls from. */
class Feed implements AsyncIterableIterator<WorklistEvent> {
  private readonly queue: WorklistEvent[] = [];
  private waiting?: { resolve: (r: IteratorResult<WorklistEvent>) => void; reject: (e: Error) => void };
  private error?: OpenReadError;
  closed = false;
  constructor(
    readonly radiologist: string,
    /** the Authorization the subscription was made with: re-checked while it runs */
    readonly authorization: string | undefined,
    private readonly onClose: (f: Feed) => void,
  ) {}
  /** Ends the feed with a typed error for the client (its session or role is gone); queued events are dropped. */
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
  push(e: WorklistEvent) {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: e, done: false });
    } else if (this.queue.length < 10_000) this.queue.push(e); // a client that never reads loses the overflow
  }
  next(): Promise<IteratorResult<WorklistEvent>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.error) return Promise.reject(this.error);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }
  return(): Promise<IteratorResult<WorklistEvent>> {
    this.closed = true;
    this.onClose(this);
    this.waiting?.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator]() {
    return this;
  }
}

/** Events per page, and pages per poll (a backlog is worked off over several polls, never cut off). */
const PAGE = 500;
const PAGES_PER_POLL = 8;

/**
 * The live worklist: polls the API's own database (what the indexer wrote) while anyone is subscribed, and
 * pushes to each subscriber what concerns them, eligibility decided by the worklist's SQL rule. Polling the
 * database rather than listening to the indexer keeps it correct with several API instances and across restarts
 * of either app, at the cost of one poll interval (API_FEED_POLL_MS) of latency.
 *
 * Two cursors, both paged: the position in the indexed event log (its IDs grow as events are stored, so a reorg's
 * new branch is never behind it; studies posted, claimed, back after a lapsed
 * lease; parameter changes), and the chain-time window whose whole hours of waiting are still to be announced.
 */
@Injectable()
export class StudyFeed implements OnApplicationShutdown {
  private readonly logger = new Logger('StudyFeed');
  private readonly feeds = new Set<Feed>();
  private cursor: { position: FeedPosition; asOf: number } | null = null;
  /** a window of escalations being announced page by page */
  private escalation: { from: number; to: number; afterId: string | null } | null = null;
  private timer?: NodeJS.Timeout;
  private polling = false;
  /** when the feeds' sessions and roles were last checked (ms) */
  private authorisedAt = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: StudyFeedRepository,
    private readonly chain: ChainService,
    private readonly auth: AuthService,
    private readonly roles: RoleService,
  ) {}

  /**
   * Events from now on. The cursor starts when the first subscriber arrives. An account holds at most
   * API_MAX_FEEDS_PER_ACCOUNT feeds on this instance (each holds a queue); one more is RATE_LIMITED.
   */
  async subscribe(radiologist: string, authorization: string | undefined): Promise<AsyncIterableIterator<WorklistEvent>> {
    const max = this.config.api.maxFeedsPerAccount;
    let held = 0;
    for (const f of this.feeds) if (f.radiologist === radiologist) held++;
    if (held >= max)
      throw new OpenReadError('RATE_LIMITED', `an account may hold at most ${max} live worklist feeds; close one first`, {
        reason: 'TOO_MANY_FEEDS',
      });
    // registered before the first await, so that concurrent subscriptions count each other
    const feed = new Feed(radiologist, authorization, (f) => this.feeds.delete(f));
    this.feeds.add(feed);
    try {
      if (!this.cursor) this.cursor = { position: await this.repo.head(this.config.chainId), asOf: await this.chain.now() };
    } catch (e) {
      this.feeds.delete(feed);
      throw e;
    }
    this.timer ??= setInterval(() => void this.poll(), this.config.api.feedPollMs);
    return feed;
  }

  /**
   * Ends every feed whose session was logged out or has expired (UNAUTHENTICATED) or whose account no longer holds
   * the RADIOLOGIST role (FORBIDDEN). Runs from the poll, at most once a second (or once a poll when polls are slower).
   */
  private async reauthorise(): Promise<void> {
    if (Date.now() - this.authorisedAt < Math.max(1000, this.config.api.feedPollMs)) return;
    this.authorisedAt = Date.now();
    const bySession = new Map<string, Feed[]>();
    for (const f of this.feeds) {
      const key = `${f.radiologist} ${f.authorization ?? ''}`;
      bySession.set(key, [...(bySession.get(key) ?? []), f]);
    }
    for (const feeds of bySession.values()) {
      const [{ radiologist, authorization }] = feeds;
      const user = await this.auth.authenticate(authorization);
      let error: OpenReadError | null = null;
      if (!user || user.address !== radiologist)
        error = new OpenReadError('UNAUTHENTICATED', 'your session ended (signed out or expired); sign in and subscribe again');
      else if (!(await this.roles.indexedRolesOf(radiologist)).has('RADIOLOGIST'))
        error = new OpenReadError('FORBIDDEN', 'you no longer hold the RADIOLOGIST role (credential revoked)');
      if (error) for (const f of feeds) f.fail(error);
    }
  }

  /** How many subscriptions are registered (a subscription counts once its first event can reach it). */
  get subscribers(): number {
    return this.feeds.size;
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    for (const f of [...this.feeds]) void f.return();
  }

  private async poll(): Promise<void> {
    if (this.polling || !this.cursor) return;
    if (!this.feeds.size) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.cursor = null;
      this.escalation = null;
      return;
    }
    this.polling = true;
    try {
      await this.reauthorise();
      const chainId = this.config.chainId;
      const cursor = this.cursor;
      const head = await this.repo.head(chainId);
      const asOf = await this.chain.now();
      let pages = 0;
      // what happened: studies posted, taken or back, and parameter changes, in chain order
      while (pages < PAGES_PER_POLL && head > cursor.position) {
        pages++;
        const page = await this.repo.changes(chainId, cursor.position, head, asOf, PAGE);
        cursor.position = page.full && page.last ? page.last : head;
        await this.publish(asOf, [
          ...page.studies.filter((r) => r.status === 'OPEN').map((row) => ({ kind: WorklistEventKind.NEW_STUDY, row })),
          ...page.studies.filter((r) => r.status === 'CLAIMED').map((row) => ({ kind: WorklistEventKind.STUDY_TAKEN, row })),
        ]);
        if (page.parametersChanged)
          this.broadcast({ kind: WorklistEventKind.PARAMETERS_CHANGED, study: null, asOf: new Date(asOf * 1000) });
      }
      // what time did: whole hours of waiting that began since the last window
      if (!this.escalation && asOf > cursor.asOf) {
        this.escalation = { from: cursor.asOf, to: asOf, afterId: null };
        cursor.asOf = asOf;
      }
      while (this.escalation && pages < PAGES_PER_POLL) {
        pages++;
        const w = this.escalation;
        const rows = await this.repo.escalated(chainId, w.from, w.to, w.afterId, PAGE);
        await this.publish(
          w.to,
          rows.map((row) => ({ kind: WorklistEventKind.BOUNTY_CHANGED, row })),
        );
        if (rows.length < PAGE) this.escalation = null;
        else w.afterId = rows.at(-1)!.studyId;
      }
    } catch (e) {
      this.logger.warn(`live worklist poll failed: ${(e as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  /** Study events to the subscribers who may claim the study (a study taken is not news to its taker). */
  private async publish(asOf: number, events: { kind: WorklistEventKind; row: WorklistRow }[]): Promise<void> {
    if (!events.length) return;
    const feeds = [...this.feeds];
    const eligible = await this.repo.eligiblePairs(
      this.config.chainId,
      [...new Set(feeds.map((f) => f.radiologist))],
      [...new Set(events.map((e) => e.row.studyId))],
      asOf,
    );
    for (const { kind, row } of events) {
      const event: WorklistEvent = {
        kind,
        study: Study.from(row, asOf, kind === WorklistEventKind.STUDY_TAKEN ? null : row.currentBounty),
        asOf: new Date(asOf * 1000),
      };
      for (const f of feeds) {
        if (!eligible.has(`${f.radiologist}:${row.studyId}`)) continue;
        if (kind === WorklistEventKind.STUDY_TAKEN && row.radiologist === f.radiologist) continue;
        f.push(event);
      }
    }
  }

  private broadcast(event: WorklistEvent): void {
    for (const f of this.feeds) f.push(event);
  }
}
