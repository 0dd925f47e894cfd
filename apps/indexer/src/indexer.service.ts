import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig, RepeatLog, newLogId, runChecks, withLogId } from '#config';
import { BusPublisher } from '#bus';
import { JsonRpcClient } from '#chain';
import { EventStore, type StoreWriter } from './store/event-store.js';
import { indexerMetrics } from './metrics.js';
import { ChainMovedError, FinalityViolationError, IndexerPipeline, type StepResult } from './pipeline.js';

export type IndexerState = 'starting' | 'standby' | 'backfilling' | 'live' | 'halted' | 'stopped';

export interface IndexerStatus {
  state: IndexerState;
  /** writer: holds the database's writer lock; standby: waits to take over */
  role: 'writer' | 'standby' | 'none';
  chainHead: number | null;
  /** newest block that may be indexed: head − confirmations */
  safeHead: number | null;
  indexedBlock: number | null;
  /** blocks between the safe head and the indexed block */
  lagBlocks: number | null;
  lastError: string | null;
  lastErrorAt: string | null;
  haltedReason: string | null;
  reorgs: number;
  rpcRetries: number;
  blocksPerSecond: number | null;
  eventsPerSecond: number | null;
}

/**
 * Runs the pipeline in a loop: as fast as it can while behind, every pollMs when caught up, backing off on
 * errors (no single failure ends the process). Only the holder of the database's writer lock indexes; another
 * instance waits in standby and takes over when the writer's connection goes away.
 * A reorg deeper than the finality depth halts the loop for good: logged as an error, shown by /health (503).
 * Alongside: the outbox relay (events → bus, at-least-once) and the health/readiness HTTP endpoints.
 */
@Injectable()
export class IndexerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Indexer');
  private timer: NodeJS.Timeout | null = null;
  private relayTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private relaying: Promise<void> | null = null;
  private stopped = false;
  private failures = 0;
  private writer: StoreWriter | null = null;
  private http: Server | null = null;
  private progress = { at: Date.now(), block: -1, events: 0, lastLog: 0 };
  readonly status: IndexerStatus = {
    state: 'starting',
    role: 'none',
    chainHead: null,
    safeHead: null,
    indexedBlock: null,
    lagBlocks: null,
    lastError: null,
    lastErrorAt: null,
    haltedReason: null,
    reorgs: 0,
    rpcRetries: 0,
    blocksPerSecond: null,
    eventsPerSecond: null,
  };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pipeline: IndexerPipeline,
    private readonly store: EventStore,
    private readonly bus: BusPublisher,
    private readonly db: DataSource,
  ) {
    this.probeRpc = new JsonRpcClient(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs, attempts: 1 });
  }

  /** readiness probes the node with one attempt per check (the pipeline's client retries for minutes) */
  private readonly probeRpc: JsonRpcClient;
  /** the loop's and the relay's failures, once per kind and interval while an outage lasts */
  private readonly failureLog = new RepeatLog({ error: (m) => this.logger.error(m), log: (m) => this.logger.log(m) });
  private readonly relayLog = new RepeatLog({ error: (m) => this.logger.warn(m), log: (m) => this.logger.log(m) });

  /** the health server's address, e.g. http://127.0.0.1:4020 (null until listening) */
  healthUrl: string | null = null;

  async onApplicationBootstrap(): Promise<void> {
    await this.startHealthServer();
    this.schedule(0);
    this.scheduleRelay(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.relayTimer) clearTimeout(this.relayTimer);
    await this.running;
    await this.relaying;
    await this.writer?.release().catch(() => undefined);
    this.writer = null;
    if (this.status.state !== 'halted') this.status.state = 'stopped';
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
  }

  private schedule(ms: number) {
    if (this.stopped || this.status.state === 'halted') return;
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      // every line of one pass (one batch) carries the pass's id
      this.running = withLogId(newLogId('index'), () => this.tick()).finally(() => (this.running = null));
    }, ms);
  }

  private async tick(): Promise<void> {
    let next = this.config.indexer.pollMs;
    try {
      if (!this.writer || !(await this.writer.check())) {
        if (this.writer) {
          this.logger.warn('lost the writer lock connection: stepping down');
          await this.writer.release().catch(() => undefined);
          this.writer = null;
        }
        this.writer = await this.store.tryWriter(this.config.chainId, this.pipeline.stream);
        if (!this.writer) {
          if (this.status.role !== 'standby') this.logger.log('standby: another indexer holds the writer lock of this database');
          this.status.role = 'standby';
          this.status.state = 'standby';
          return this.schedule(next);
        }
        this.logger.log(this.status.role === 'standby' ? 'took over as the writer' : 'holding the writer lock');
        this.status.role = 'writer';
        await this.writer.setHalted(null).catch(() => undefined); // a restart re-checks; a reorg still too deep halts again
      }
      const r = await this.pipeline.step(this.writer);
      this.record(r);
      if (r.caughtUp && !r.reorg) await this.refreshBounds(this.writer, r.fresh === 0 ? r.chainHead : null);
      this.failures = 0;
      this.failureLog.ok('indexing recovered');
      if (r.fresh) this.scheduleRelay(0);
      if (!r.caughtUp) next = 0;
    } catch (e) {
      if (e instanceof FinalityViolationError) return this.halt(e.message);
      if (e instanceof ChainMovedError) {
        // a reorg under way while a batch was fetched: nothing was stored; look again shortly
        this.logger.warn(`chain moved during the fetch, retrying: ${e.message}`);
        return this.schedule(this.config.indexer.pollMs);
      }
      this.failures++;
      this.status.lastError = (e as Error).message;
      this.status.lastErrorAt = new Date().toISOString();
      next = Math.min(30_000, this.config.indexer.pollMs * 2 ** Math.min(this.failures, 5));
      this.failureLog.error(`indexing failed (attempt ${this.failures}, retry in ${next} ms): ${this.status.lastError}`);
    } finally {
      this.status.rpcRetries = this.pipeline.rpc.retries;
    }
    this.schedule(next);
  }

  /**
   * The worklist's bounty ceilings (libs/db/src/studies/worklist-bounds.ts), only while caught up (during a
   * backfill the indexed time is history): one chunk of the refresher per step; when the step found nothing new
   * (`idleHead`: the chain head it saw), more for up to ~50 ms, until the chain moves. A new block waits for at
   * most about one chunk.
   */
  private async refreshBounds(writer: StoreWriter, idleHead: number | null): Promise<void> {
    const until = Date.now() + (idleHead === null ? 0 : 50);
    const opts = { horizonSeconds: this.config.indexer.boundsHorizonSeconds, chunkRows: this.config.indexer.boundsChunkRows };
    do {
      const r = await writer.refreshWorklistBounds(opts);
      if (!r || r.idle) return;
      if (r.completed) {
        this.logger.log('worklist bounds refreshed: the bounty ceilings of all open studies hold for the next horizon');
        return;
      }
    } while (!this.stopped && Date.now() < until && (await this.pipeline.rpc.blockNumber()) === idleHead);
  }

  private async halt(reason: string): Promise<void> {
    this.status.state = 'halted';
    this.status.haltedReason = reason;
    this.status.lastError = reason;
    this.status.lastErrorAt = new Date().toISOString();
    this.logger.error(`INDEXER HALTED: ${reason}`);
    await this.writer?.setHalted(reason).catch((e) => this.logger.error(`could not record the halt: ${(e as Error).message}`));
  }

  private record(r: StepResult) {
    const s = this.status;
    s.chainHead = r.chainHead;
    s.safeHead = r.safeHead;
    if (r.reorg) {
      s.reorgs++;
      s.indexedBlock = r.reorg.ancestor;
    } else if (r.to >= r.from || s.indexedBlock === null) s.indexedBlock = r.to;
    s.lagBlocks = Math.max(0, r.safeHead - (s.indexedBlock ?? 0));
    s.state = r.caughtUp ? 'live' : 'backfilling';

    // progress: blocks/s, events/s and ETA while behind, every 5 s
    const now = Date.now();
    const p = this.progress;
    if (p.block < 0) Object.assign(p, { at: now, block: s.indexedBlock, events: 0, lastLog: now });
    p.events += r.events;
    if (now - p.at >= 5_000) {
      const secs = (now - p.at) / 1000;
      s.blocksPerSecond = Math.round((s.indexedBlock! - p.block) / secs);
      s.eventsPerSecond = Math.round(p.events / secs);
      if (!r.caughtUp && s.lagBlocks > 0) {
        const eta = s.blocksPerSecond > 0 ? Math.ceil(s.lagBlocks / s.blocksPerSecond) : null;
        this.logger.log(
          `backfill: block ${s.indexedBlock}/${r.safeHead} (${s.lagBlocks} to go), ${s.blocksPerSecond} blocks/s, ${s.eventsPerSecond} events/s, ` +
            `ETA ${eta === null ? '?' : `${eta} s`}`,
        );
      }
      Object.assign(p, { at: now, block: s.indexedBlock, events: 0 });
    }
  }

  // ---- outbox relay ----

  private scheduleRelay(ms: number) {
    if (this.stopped) return;
    if (this.relayTimer) clearTimeout(this.relayTimer);
    this.relayTimer = setTimeout(() => {
      if (this.stopped) return;
      if (this.relaying) return this.scheduleRelay(50);
      this.relaying = withLogId(newLogId('relay'), () => this.relay()).finally(() => (this.relaying = null));
    }, ms);
  }

  /** Publishes the outbox until it is empty or the bus fails; runs again when new events arrive, else every poll. */
  private async relay(): Promise<void> {
    let next = Math.max(this.config.indexer.pollMs, 1000);
    try {
      let r: { offered: number; acked: number };
      do {
        r = await this.store.drainOutbox(this.config.chainId, 500, (messages) => this.bus.deliver(messages));
      } while (!this.stopped && r.offered > 0 && r.acked === r.offered);
      if (r.acked < r.offered) next = Math.min(10_000, next * 2); // bus down: back off
      this.relayLog.ok('outbox relay recovered');
    } catch (e) {
      this.relayLog.error(`outbox relay: ${(e as Error).message}`);
    }
    this.scheduleRelay(next);
  }

  // ---- health ----

  private dependencies() {
    const bus = this.bus.probe;
    return runChecks(
      { postgres: () => this.db.query('SELECT 1'), chain: () => this.probeRpc.blockNumber(), ...(bus ? { bus } : {}) },
      this.config.dependencyTimeoutMs,
    );
  }

  private async startHealthServer(): Promise<void> {
    const { healthHost, healthPort } = this.config.indexer;
    const metrics = indexerMetrics(this.status);
    this.http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        void metrics.metrics().then(
          (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
        return;
      }
      const s = this.status;
      if (path === '/health') {
        const ok = s.state !== 'halted';
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok, ...s }));
      } else if (path === '/ready') {
        // the loop's own state can be stale while a call hangs: ask Postgres and the node, each within the deadline
        void this.dependencies().then((deps) => {
          const ok =
            deps.ok && s.role === 'writer' && s.state === 'live' && (s.lagBlocks ?? Infinity) <= this.config.indexer.readyLagBlocks;
          // with NATS the stream is a dependency (checks.bus): indexing goes on while it is down, but its events wait in
          // the outbox; over TCP the other end is the worker, whose own readiness counts, so it is only shown
          const bus = { transport: this.bus.transport, reachable: this.bus.reachable };
          res
            .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ ok, ...s, dependencies: deps.checks, bus }));
        });
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', reject);
      this.http!.listen(healthPort, healthHost, () => resolve());
    });
    const addr = this.http.address();
    this.healthUrl = typeof addr === 'object' && addr ? `http://${healthHost}:${addr.port}` : null;
    this.logger.log(`health on ${this.healthUrl}/health, readiness on ${this.healthUrl}/ready, metrics on ${this.healthUrl}/metrics`);
  }
}
