/**
 * `npm run bench`: indexer throughput, lag and size on this machine.
 *
 *   1. anvil (high block gas limit), contracts deployed, BENCH_EVENTS (default 100,000) market events generated
 *      (Deposited and StudyPosted, ~BENCH_PER_BLOCK per block) with batched eth_sendTransaction
 *   2. backfill into a fresh Postgres database (TEST_PG_URL's server, like the tests) with the real pipeline:
 *      batched getLogs, batched headers, slice decoding, set-based inserts; time per stage
 *   3. steady state: the indexer app and the GraphQL API running; a transaction is mined, and the time until
 *      GraphQL's indexerStatus shows its block is measured, BENCH_LAG_SAMPLES times
 *   4. database size
 * Prints a table (copied into the README).
 */
import { NestFactory } from '@nestjs/core';
import { NonceManager, type Contract } from 'ethers';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createApiApp } from '../apps/api/src/bootstrap.js';
import { IndexerModule } from '../apps/indexer/src/indexer.module.js';
import { IndexerPipeline } from '../apps/indexer/src/pipeline.js';
import { createProvider, startAnvil } from '../libs/chain/src/anvil.js';
import { generateBulkEvents } from '../libs/chain/src/bulk-events.js';
import { contracts, deployOpenRead } from '../libs/chain/src/deploy.js';
import { parseConfig } from '../libs/config/src/index.js';
import { EventStore, createDataSource } from '../libs/db/src/index.js';
import { createTestDatabase } from '../libs/db/src/testing/test-database.js';
import { devKey } from './lib/dev-accounts.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const PER_BLOCK = Number(process.env.BENCH_PER_BLOCK ?? 500);
const BATCH = Number(process.env.BENCH_BATCH_BLOCKS ?? 10);
const LAG_SAMPLES = Number(process.env.BENCH_LAG_SAMPLES ?? 20);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 100);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  const anvil = await startAnvil({ args: ['--accounts', '20', '--gas-limit', '1000000000', '--code-size-limit', '100000'] });
  const provider = createProvider(anvil.rpcUrl);
  const db = await createTestDatabase();
  try {
    const deployer = new NonceManager(devKey(0).connect(provider));
    const deployment = await deployOpenRead(deployer, { treasury: devKey(1).address });
    const owner = contracts(deployment, deployer);
    const ros = [2, 3, 4, 5, 6, 7, 8, 10];
    for (const i of ros) {
      await (await owner.token.mint(devKey(i).address, 10n ** 18n)).wait();
      await (await (owner.token.connect(devKey(i).connect(provider)) as Contract).approve(deployment.market, 2n ** 255n)).wait();
    }
    console.log(`generating ${fmt(EVENTS)} market events on anvil (${PER_BLOCK} per block)…`);
    const g0 = performance.now();
    let lastReport = 0;
    const gen = await generateBulkEvents({
      rpcUrl: anvil.rpcUrl,
      market: deployment.market,
      ros: ros.map((i) => devKey(i).address),
      events: EVENTS,
      perBlock: PER_BLOCK,
      seed: 7,
      onProgress: (done) => {
        if (done - lastReport >= 20_000) {
          lastReport = done;
          console.log(`  ${fmt(done)} events`);
        }
      },
    });
    const genMs = performance.now() - g0;
    const head = await provider.getBlockNumber();

    const config = parseConfig({
      databaseUrl: db.url,
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      contracts: { ...deployment },
      api: { port: 0, siweDomain: 'bench.local', siweUri: 'http://bench.local' },
      indexer: { batchBlocks: BATCH, pollMs: POLL_MS, healthPort: 0, rpcTimeoutMs: 60_000 },
      settler: {},
      bus: { settlerPort: 1 },
    });

    // backfill with the pipeline itself
    console.log(`backfilling blocks ${deployment.deployBlock}..${head} …`);
    const ds = await createDataSource(db.url, { poolSize: 4 }).initialize();
    const store = new EventStore(ds);
    const pipeline = new IndexerPipeline(config, store);
    const writer = (await store.tryWriter(config.chainId, pipeline.stream))!;
    // CPU time per process: what the backfill costs whatever else the machine is doing
    const cpu0 = { node: process.cpuUsage(), pg: cpuSeconds(writer.backendPid!), anvil: cpuSeconds(anvil.pid) };
    const b0 = performance.now();
    let events = 0;
    for (;;) {
      const r = await pipeline.step(writer);
      events += r.events;
      if (r.caughtUp) break;
    }
    const backfillMs = performance.now() - b0;
    const nodeCpu = process.cpuUsage(cpu0.node);
    const cpu = {
      node: (nodeCpu.user + nodeCpu.system) / 1e6,
      pg: cpuSeconds(writer.backendPid!) - cpu0.pg,
      anvil: cpuSeconds(anvil.pid) - cpu0.anvil,
    };
    await writer.release();
    await ds.destroy();

    // steady state: indexer app + API; block mined → visible in GraphQL
    const indexer = await NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger: ['error'] });
    await indexer.init();
    const api = await createApiApp(config);
    await api.init();
    await api.listen(0, '127.0.0.1');
    const url = `${await api.getUrl()}/graphql`.replace('[::1]', '127.0.0.1');
    const indexed = async () => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ indexerStatus { indexedBlock } }' }) });
      return ((await res.json()) as any).data.indexerStatus.indexedBlock as number;
    };
    while ((await indexed()) < head) await new Promise((r) => setTimeout(r, 50));
    const market = owner.market.connect(new NonceManager(devKey(2).connect(provider))) as Contract;
    const lags: number[] = [];
    for (let i = 0; i < LAG_SAMPLES; i++) {
      const receipt = await (await market.deposit(1n)).wait();
      const mined = performance.now();
      while ((await indexed()) < receipt!.blockNumber) await new Promise((r) => setTimeout(r, 5));
      lags.push(performance.now() - mined);
      await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
    }
    await api.close();
    await indexer.close();
    lags.sort((a, b) => a - b);

    // size
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const size = (await c.query(`SELECT pg_database_size(current_database()) AS b`)).rows[0].b;
    const tables = (
      await c.query(`SELECT relname, pg_total_relation_size(relid) AS b, n_live_tup AS rows FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT 5`)
    ).rows;
    await c.end();

    const t = pipeline.timings;
    const stage = (ms: number) => `${secs(ms)} (${((ms / backfillMs) * 100).toFixed(0)} %)`;
    const rows: [string, string][] = [
      ['machine', `${(await import('node:os')).cpus().length} cores, Node ${process.version}, Postgres ${(await pgVersion(db.url)) ?? '?'}`],
      ['events generated on anvil', `${fmt(gen.events)} in ${gen.blocks} blocks (${secs(genMs)})`],
      ['backfill', `${fmt(events)} events, ${fmt(head - deployment.deployBlock + 1)} blocks in ${secs(backfillMs)}, ${BATCH} blocks (~${fmt(BATCH * PER_BLOCK)} events) per batch`],
      ['**backfill throughput**', `**${fmt(events / (backfillMs / 1000))} events/s**`],
      ['  waiting for eth_getLogs + headers (the part not overlapped with storing)', stage(t.logs + t.headers)],
      ['  decode', stage(t.decode)],
      ['  store (Postgres: events = outbox, projections, ledger, checkpoint)', stage(t.store)],
      ['  reorg check', stage(t.check)],
      [
        'CPU time of the backfill',
        `indexer (Node) ${cpu.node.toFixed(2)} s, Postgres backend ${cpu.pg.toFixed(2)} s, anvil ${cpu.anvil.toFixed(2)} s`,
      ],
      [
        '**throughput bound by CPU on an idle 2-core machine**',
        `**${fmt(events / Math.max(cpu.node, cpu.pg, cpu.anvil, (cpu.node + cpu.pg + cpu.anvil) / 2))} events/s** (events ÷ max(busiest process, total CPU ÷ 2))`,
      ],
      [`steady-state lag, block mined → in GraphQL (poll ${POLL_MS} ms, ${LAG_SAMPLES} samples)`, `median ${fmt(lags[Math.floor(lags.length / 2)])} ms, p95 ${fmt(lags[Math.floor(lags.length * 0.95)] ?? lags.at(-1)!)} ms, max ${fmt(lags.at(-1)!)} ms`],
      ['database size', `${(size / 2 ** 20).toFixed(1)} MiB (${tables.map((r: any) => `${r.relname} ${(r.b / 2 ** 20).toFixed(1)} MiB`).join(', ')})`],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(`\n| ${'measure'.padEnd(w)} | result |\n|${'-'.repeat(w + 2)}|--------|`);
    for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
  } finally {
    provider.destroy();
    await anvil.stop();
    await db.drop();
  }
}

/** user + system CPU seconds of a local process (from /proc; the Postgres backend runs on this machine) */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

async function pgVersion(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(`SHOW server_version`)).rows[0].server_version;
  } finally {
    await c.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
