import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonRpcClient, JsonRpcError } from '#chain';
import { EventStore, NotWriterError, StoreWriter } from '#indexer-store';
import { type ChainEvent, createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { seededRandom } from '#domain';
import { ALL_FAULTS, startFaultProxy } from './support/fault-proxy.js';
import {
  Activity,
  Chain,
  catchUp,
  cleanSnapshot,
  divergences,
  indexerConfig,
  reorg,
  snapshot,
  startChain,
  startIndexer,
  until,
} from './support/indexing.js';

/** The IndexerService's private parts these tests reach into to kill a writer without a goodbye and to hear its errors. */
interface IndexerInternals {
  stopped: boolean;
  running: Promise<void>;
  writer: { backendPid: number };
  logger: { error(message: string): void };
}
const internals = (service: object) => service as unknown as IndexerInternals;

type Db = Awaited<ReturnType<typeof createTestDatabase>>;

describe('indexer under RPC faults, duplicate delivery, deep reorgs and a second instance', () => {
  let chain: Chain;
  const dbs: Db[] = [];
  const newDb = async () => {
    const d = await createTestDatabase();
    dbs.push(d);
    return d;
  };

  beforeAll(async () => {
    chain = await startChain();
    await new Activity(chain, 77).run(60);
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop();
    await chain?.stop();
  });

  it('retries every kind of RPC fault with backoff, splits refused getLogs ranges, and fails fast on bad params', async () => {
    const proxy = await startFaultProxy(chain.anvil.rpcUrl, { seed: 1, hangMs: 1_000 });
    try {
      const head = await chain.head();
      const clean = await new JsonRpcClient(chain.anvil.rpcUrl).logs([chain.deployment.market], 0, head);
      for (const kind of ALL_FAULTS) {
        proxy.set({ rate: 0.6, kinds: [kind] });
        const rpc = new JsonRpcClient(proxy.url, { timeoutMs: 300, backoffMs: 5, maxBackoffMs: 20, attempts: 30 });
        for (let i = 0; i < 20 && !proxy.stats[kind]; i++) {
          expect(await rpc.blockNumber()).toBe(head);
          expect(await rpc.logs([chain.deployment.market], 0, head)).toEqual(clean);
          expect((await rpc.blocks([1, 2, 3])).map((b) => Number(b!.number))).toEqual([1, 2, 3]);
        }
        expect(proxy.stats[kind], `${kind} was injected`).toBeGreaterThan(0);
        expect(rpc.retries).toBeGreaterThan(0);
        expect(rpc.logRangeLimit, `${kind} is not mistaken for a range limit`).toBe(Number.MAX_SAFE_INTEGER);
      }
      proxy.set({ rate: 0, maxLogRange: 7 });
      const rpc = new JsonRpcClient(proxy.url);
      expect(await rpc.logs([chain.deployment.market], 0, head)).toEqual(clean);
      expect(rpc.logRangeLimit).toBeLessThanOrEqual(7);
      const refused = proxy.stats.rangeRefused;
      await rpc.logs([chain.deployment.market], 0, head); // learned: no more refusals
      expect(proxy.stats.rangeRefused).toBe(refused);
      await expect(rpc.call('eth_getBlockByNumber', ['not a block', false])).rejects.toBeInstanceOf(JsonRpcError);
    } finally {
      await proxy.close();
    }
  });

  it('changes nothing when every log is delivered three times, or a batch is stored three times', async () => {
    const proxy = await startFaultProxy(chain.anvil.rpcUrl, { duplicateLogs: 3 });
    const db = await newDb();
    try {
      await catchUp(indexerConfig(chain, db.url, { batchBlocks: 9 }, proxy.url));
    } finally {
      await proxy.close();
    }
    const reference = await cleanSnapshot(chain);
    expect(divergences(await snapshot(db.url), reference)).toEqual([]);

    // the store itself: the same events three times, in one batch and in three
    const ds = await createDataSource(db.url, { poolSize: 2 }).initialize();
    try {
      const store = new EventStore(ds);
      const writer = (await store.tryWriter(chain.deployment.chainId, `openread:${chain.deployment.market.toLowerCase()}`))!;
      const rows = (await snapshot(db.url)).chain_events;
      const events = rows.map((r): ChainEvent => ({
        blockNumber: Number(r.block_number),
        blockHash: String(r.block_hash),
        blockTime: Number(r.block_time),
        txHash: String(r.tx_hash),
        logIndex: Number(r.log_index),
        contract: String(r.contract),
        name: String(r.name),
        args: r.args as ChainEvent['args'],
      }));
      const last = events.at(-1)!;
      const cp = (await store.checkpoint(chain.deployment.chainId, writer.stream))!;
      const to = { blockNumber: cp.blockNumber, blockHash: cp.blockHash!, parentHash: '0x' + '0'.repeat(64), blockTime: cp.blockTime! };
      expect(await writer.storeBatch([...events, ...events, ...events], to)).toEqual([]);
      for (let i = 0; i < 3; i++) expect(await writer.storeBatch([last], to)).toEqual([]);
      await writer.release();
    } finally {
      await ds.destroy();
    }
    expect(divergences(await snapshot(db.url), reference)).toEqual([]);
  });

  it('lets one indexer write per database: the second waits in standby, cannot write, and takes over when the first dies', async () => {
    const db = await newDb();
    const config = indexerConfig(chain, db.url);
    const first = await startIndexer(config);
    await until('the first to be the writer', () => first.service.status.role === 'writer');
    const second = await startIndexer(config);
    try {
      await until('the second in standby', () => second.service.status.role === 'standby');
      const ready = await fetch(`${second.service.healthUrl}/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { role: string }).role).toBe('standby');
      expect((await fetch(`${second.service.healthUrl}/health`)).status).toBe(200);

      // a write through a connection without the lock is refused
      const ds = await createDataSource(db.url, { poolSize: 2 }).initialize();
      const qr = ds.createQueryRunner();
      await qr.connect();
      const intruder = new StoreWriter(qr, config.chainId, `openread:${config.contracts.market}`);
      await expect(intruder.setHead(1)).rejects.toBeInstanceOf(NotWriterError);
      expect(await new EventStore(ds).tryWriter(config.chainId, `openread:${config.contracts.market}`)).toBeNull();
      await qr.release();
      await ds.destroy();

      await until('the first caught up', () => first.service.status.state === 'live');
      // the first dies without a goodbye (as when its process is SIGKILLed): its loop stops dead, its session is cut
      internals(first.service).stopped = true;
      await internals(first.service).running;
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      const pid = internals(first.service).writer.backendPid;
      expect((await admin.query(`SELECT pg_terminate_backend($1) AS ok`, [pid])).rows[0].ok).toBe(true);
      await admin.end();
      await until('the second took over', () => second.service.status.role === 'writer', 20_000);
      await new Activity(chain, 78).run(5);
      const head = await chain.head();
      await until('the second indexing new blocks', () => second.service.status.indexedBlock === head, 20_000);
      expect(divergences(await snapshot(db.url), await cleanSnapshot(chain))).toEqual([]);
    } finally {
      await second.close();
      await first.close().catch(() => undefined);
    }
  });

  it('stops loudly on a reorg deeper than the finality depth instead of guessing', async () => {
    const db = await newDb();
    const config = indexerConfig(chain, db.url, { finalityDepth: 10 });
    const indexer = await startIndexer(config);
    try {
      await new Activity(chain, 79).run(15);
      const head = await chain.head();
      await until('caught up', () => indexer.service.status.indexedBlock === head);
      const before = await snapshot(db.url);
      const errors: string[] = [];
      const log = internals(indexer.service).logger;
      const original = log.error.bind(log);
      log.error = (m: string) => {
        errors.push(m);
        original(m);
      };
      await reorg(chain, new Activity(chain, 80), 12, 3);
      await until('halted', () => indexer.service.status.state === 'halted', 20_000);
      expect(errors.some((m) => /INDEXER HALTED: reorg deeper than the finality depth \(10 blocks\)/.test(m))).toBe(true);
      const health = await fetch(`${indexer.service.healthUrl}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { haltedReason: string }).haltedReason).toMatch(/deeper than the finality depth/);
      const [cp] = (await snapshot(db.url)).indexer_checkpoints;
      expect(cp.block_number).toBe(String(head));
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      expect((await c.query(`SELECT halted_reason FROM indexer_checkpoints`)).rows[0].halted_reason).toMatch(/finality depth/);
      await c.end();
      // nothing guessed: the data is exactly what it was
      expect(divergences(await snapshot(db.url), before)).toEqual([]);
    } finally {
      await indexer.close();
    }
  });

  it('a seeded fault-injection run (RPC errors, range limits, restarts, reorgs) ends with 0 divergences from a clean index', async () => {
    const long = process.env.FAULT_RUN_LONG === '1';
    const seed = Number(process.env.FAULT_RUN_SEED ?? 424242);
    const rounds = long ? 60 : 12;
    const rnd = seededRandom(seed);
    const proxy = await startFaultProxy(chain.anvil.rpcUrl, { seed, rate: 0.05, maxLogRange: 25, hangMs: 600 });
    const db = await newDb();
    const config = indexerConfig(chain, db.url, { finalityDepth: 30, rpcTimeoutMs: 400, batchBlocks: 40 }, proxy.url);
    const activity = new Activity(chain, seed);
    let indexer = await startIndexer(config);
    const events = { restarts: 0, reorgs: 0 };
    try {
      for (let round = 0; round < rounds; round++) {
        await activity.run(rnd.int(3, 12));
        const what = round % 3 === 1 ? 0 : round % 3 === 2 ? 1 : rnd.int(0, 3);
        if (what === 0) {
          await indexer.close();
          indexer = await startIndexer(config);
          events.restarts++;
        } else if (what === 1) {
          await reorg(chain, activity, rnd.int(1, 8), rnd.int(1, 4));
          events.reorgs++;
        }
      }
      const head = await chain.head();
      await until('caught up', () => indexer.service.status.indexedBlock === head && indexer.service.status.state === 'live', 120_000);
      const faults = Object.entries(proxy.stats)
        .filter(([k]) => k !== 'requests')
        .reduce((n, [, v]) => n + v, 0);
      console.log(
        `fault run seed ${seed}: ${rounds} rounds, ${events.restarts} restarts, ${events.reorgs} reorgs, ${faults} faults of ${proxy.stats.requests} requests`,
        proxy.stats,
      );
      expect(faults).toBeGreaterThan(0);
      expect(events.reorgs).toBeGreaterThan(0);
      expect(events.restarts).toBeGreaterThan(0);
      expect(divergences(await snapshot(db.url), await cleanSnapshot(chain))).toEqual([]);
    } finally {
      await indexer.close();
      await proxy.close();
    }
  });
});
