import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../../libs/config/src/index.js';
import { StudyFeedRepository, WorklistRow } from '../../../../libs/db/src/index.js';
import { ChainService } from '../chain/chain.service.js';
import { Study } from '../studies/study.models.js';
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

/**
 * The live worklist: polls the API's own projections (what the indexer wrote) while anyone is subscribed, and
 * pushes to each subscriber what concerns them, eligibility decided by the worklist's SQL rule. Polling the
 * database rather than listening to the indexer keeps it correct with several API instances and across restarts
 * of either app, at the cost of one poll interval (API_FEED_POLL_MS) of latency.
 */
@Injectable()
export class StudyFeed implements OnApplicationShutdown {
  private readonly logger = new Logger('StudyFeed');
  private readonly feeds = new Set<Feed>();
  private cursor: { block: number; asOf: number } | null = null;
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: StudyFeedRepository,
    private readonly chain: ChainService,
  ) {}

  /** Events from now on. The cursor starts when the first subscriber arrives. */
  async subscribe(radiologist: string): Promise<AsyncIterableIterator<WorklistEvent>> {
    if (!this.cursor) this.cursor = { block: await this.repo.head(this.config.chainId), asOf: await this.chain.now() };
    const feed = new Feed(radiologist, (f) => this.feeds.delete(f));
    this.feeds.add(feed);
    this.timer ??= setInterval(() => void this.poll(), this.config.api.feedPollMs);
    return feed;
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
      return;
    }
    this.polling = true;
    try {
      const chainId = this.config.chainId;
      const head = await this.repo.head(chainId);
      const asOf = await this.chain.now();
      if (head === this.cursor.block && asOf === this.cursor.asOf) return;
      const { changed, escalated } = await this.repo.changes(chainId, this.cursor.block, head, asOf, this.cursor.asOf);
      // a full page means more changes wait: continue from the last block fully seen
      const next = changed.length === 1000 ? changed.at(-1)!.updatedBlock - 1 : head;
      const events: { kind: WorklistEventKind; row: WorklistRow }[] = [
        ...changed.filter((r) => r.status === 'OPEN').map((row) => ({ kind: WorklistEventKind.NEW_STUDY, row })),
        ...changed.filter((r) => r.status === 'CLAIMED').map((row) => ({ kind: WorklistEventKind.STUDY_TAKEN, row })),
        ...escalated.map((row) => ({ kind: WorklistEventKind.BOUNTY_CHANGED, row })),
      ];
      this.cursor = { block: next, asOf };
      if (!events.length) return;
      const feeds = [...this.feeds];
      const eligible = await this.repo.eligiblePairs(
        chainId,
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
    } catch (e) {
      this.logger.warn(`live worklist poll failed: ${(e as Error).message}`);
    } finally {
      this.polling = false;
    }
  }
}
