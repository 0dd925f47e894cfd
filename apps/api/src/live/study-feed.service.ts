import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { FeedPosition, StudyFeedRepository, WorklistRow } from '#db';
import { ChainService } from '../chain/index.js';
import { Study } from '../studies/index.js';
import { WorklistEvent, WorklistEventKind } from './live.models.js';

/** One subscriber's queue: an AsyncIterator graphql-ws pulls from. */
class Feed implements AsyncIterableIterator<WorklistEvent> {
  private readonly queue: WorklistEvent[] = [];
  private waiting?: (r: IteratorResult<WorklistEvent>) => void;
  closed = false;
  constructor(
    readonly radiologist: string,
    private readonly onClose: (f: Feed) => void,
  ) {}
  push(e: WorklistEvent) {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: e, done: false });
    } else if (this.queue.length < 10_000) this.queue.push(e); // a client that never reads loses the overflow
  }
  next(): Promise<IteratorResult<WorklistEvent>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((r) => (this.waiting = r));
  }
  return(): Promise<IteratorResult<WorklistEvent>> {
    this.closed = true;
    this.onClose(this);
    this.waiting?.({ value: undefined, done: true });
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

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: StudyFeedRepository,
    private readonly chain: ChainService,
  ) {}

  /** Events from now on. The cursor starts when the first subscriber arrives. */
  async subscribe(radiologist: string): Promise<AsyncIterableIterator<WorklistEvent>> {
    if (!this.cursor) this.cursor = { position: await this.repo.head(this.config.chainId), asOf: await this.chain.now() };
    const feed = new Feed(radiologist, (f) => this.feeds.delete(f));
    this.feeds.add(feed);
    this.timer ??= setInterval(() => void this.poll(), this.config.api.feedPollMs);
    return feed;
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
