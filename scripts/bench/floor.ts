/**
 * `BENCH=floor npm run bench`: the request floor (issue 20 goal 1): what the cheapest signed-in request costs next to
 * a bare Node HTTP endpoint, measured in the same run.
 *
 * The API over real HTTP in this process with its default settings (anvil with the contracts and a throwaway
 * database of the machine's Postgres behind it; the indexer runs until the clients' credentials are indexed, then
 * stops, as it would be another process in production), and, on the same event loop, a bare `node:http` server
 * that reads the body, parses it as JSON and answers a fixed GraphQL-shaped JSON. BENCH_FLOOR_CLIENTS (default 100)
 * signed-in, credentialed radiologists in a worker thread (floor-clients.ts) send, round after round, one request each
 * at the same moment: `{ myClaims(first: 1) { id } }` to the API (session, rate limit, roles, one query), or the same
 * body to the reference. API and reference rounds alternate (BENCH_FLOOR_ROUNDS of each, default 30, after 3 warm-up
 * rounds of each), so both see the same machine. Prints p50/p99 of both, the ratio of the p99s (goal ≤ 5×) and the
 * API thread's CPU per request.
 *
 * BENCH_FLOOR_PROFILE=1 also records a CPU profile of this thread during the measured rounds (the inspector's profiler,
 * as `node --cpu-prof` would, without the set-up; the reference rounds are in it too, ≈ 5 % of the API's CPU) and
 * prints where the time went: self time by area (Apollo, graphql-js, Nest, pg, Express, OpenRead, Node, GC) and the
 * top functions; the profile is written to BENCH_FLOOR_PROFILE_FILE (default floor.cpuprofile) for DevTools.
 */
import { NestFactory } from '@nestjs/core';
import { NonceManager } from 'ethers';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { createApiApp } from '#api';
import { createProvider, mined } from '#chain';
import { parseConfig } from '#config';
import { createTestDatabase } from '#db/testing';
import { IndexerModule } from '#indexer';
import { GraphqlHttp, attestTogether, contracts, deployOpenRead, devKey, indexedUpTo, startAnvil, threadCpuSeconds } from '#devchain';
import type { FromFloorClients, ToFloorClients } from './floor-clients.js';
import { type BenchRow, percentile } from './table.js';

const QUERY = `{ myClaims(first: 1) { id } }`;

export async function floorBench(opts: { rounds?: number; clients?: number; warmup?: number; profile?: string } = {}): Promise<BenchRow[]> {
  const rounds = opts.rounds ?? 30;
  const n = opts.clients ?? 100;
  const warmup = opts.warmup ?? 3;
  const anvil = await startAnvil({ args: ['--accounts', '20'] });
  const provider = createProvider(anvil.rpcUrl);
  const db = await createTestDatabase();
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const deployer = new NonceManager(devKey(0).connect(provider));
    const deployment = await deployOpenRead(deployer, { treasury: devKey(1).address, studyIdIssuer: devKey(11).address });
    const owner = contracts(deployment, deployer);
    await mined(owner.registry.grantRole(await owner.registry.VERIFIER_ROLE(), devKey(0).address));
    const config = parseConfig({
      databaseUrl: db.url,
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      contracts: { ...deployment },
      // latency, not refusals, is measured: on a machine shared with other work a p99 over the product's 2 s deadline
      // would answer DATABASE_UNAVAILABLE (as in test/support/stack.ts)
      dependencyTimeoutMs: 10_000,
      // the clients all sign in from 127.0.0.1: the per-address limits of calls without a session (sign-in) would
      // treat them as one client; signed-in requests keep every default limit
      api: {
        port: 0,
        siweDomain: 'bench.local',
        siweUri: 'http://bench.local',
        publicRateLimitBurst: 100_000,
        publicRateLimitPerSecond: 1000,
        newAccountSignInsPerHour: 100_000,
        addressBurst: 100_000,
        addressPerSecond: 10_000,
        addressInFlight: 1000,
      },
      indexer: { confirmations: 0, healthPort: 0 },
      settler: {},
      bus: { settlerPort: 1 },
      relay: { privateKey: devKey(19).privateKey },
    });
    const indexer = await NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger: ['error'] });
    await indexer.init();
    let indexerOpen = true;
    closers.push(async () => indexerOpen && (await indexer.close()));
    const api = await createApiApp(config);
    await api.init();
    await api.listen(0, '127.0.0.1');
    closers.unshift(() => api.close());
    const url = `${await api.getUrl()}/graphql`.replace('[::1]', '127.0.0.1');

    // the reference: what Node alone costs for the same request (read, parse, answer), on the same event loop
    const answer = Buffer.from(JSON.stringify({ data: { myClaims: [] } }));
    const bare = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query?: unknown };
        res.writeHead(typeof body.query === 'string' ? 200 : 400, { 'content-type': 'application/json', 'content-length': answer.length });
        res.end(answer);
      });
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    closers.unshift(() => new Promise((resolve) => bare.close(resolve)));
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/graphql`;

    const worker = new Worker(new URL('./floor-clients.js', import.meta.url), { workerData: { url, clients: n } });
    closers.unshift(() => worker.terminate());
    const fromClients = () =>
      new Promise<FromFloorClients>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        worker.once('error', onError);
        worker.once('message', (m: FromFloorClients) => {
          worker.off('error', onError);
          resolve(m);
        });
      });
    const ready = await fromClients();
    if (ready.kind !== 'ready') throw new Error('the clients did not start');
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await attestTogether(provider, owner.registry, ready.addresses, expiry);
    await indexedUpTo(new GraphqlHttp(url), await provider.getBlockNumber());
    await indexer.close();
    indexerOpen = false;

    const body = JSON.stringify({ query: QUERY });
    const round = async (target: 'api' | 'bare') => {
      worker.postMessage({ kind: 'round', url: target === 'api' ? url : bareUrl, body, auth: target === 'api' } satisfies ToFloorClients);
      const m = await fromClients();
      if (m.kind !== 'round') throw new Error('unexpected message from the clients');
      if (m.failed) throw new Error(`${m.failed} of ${n} ${target} requests failed, e.g. ${m.example}`);
      return m.ms;
    };
    for (let i = 0; i < warmup; i++) {
      await round('api');
      await round('bare');
    }
    console.log(`floor bench: ${n} clients, ${rounds} rounds of each…`);
    const session = opts.profile ? new Session() : null;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    }
    // Postgres transactions of this database (each statement outside a transaction is one): a count of round trips
    // that does not depend on how loaded the machine is (backends report them within a second; the API rounds
    // are then the only client)
    const stats = new pg.Client({ connectionString: db.url });
    await stats.connect();
    closers.unshift(() => stats.end());
    const transactions = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const { rows } = await stats.query<{ n: string }>(
        `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`,
      );
      return Number(rows[0].n);
    };
    const before = await transactions();
    for (let i = 0; i < 5; i++) await round('api');
    const perRequestTx = ((await transactions()) - before - 1) / (5 * n);
    const apiMs: number[] = [];
    const bareMs: number[] = [];
    let apiCpu = 0;
    let bareCpu = 0;
    for (let i = 0; i < rounds; i++) {
      let cpu = threadCpuSeconds();
      apiMs.push(...(await round('api')));
      apiCpu += threadCpuSeconds() - cpu;
      cpu = threadCpuSeconds();
      bareMs.push(...(await round('bare')));
      bareCpu += threadCpuSeconds() - cpu;
    }
    if (session) {
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
      session.disconnect();
      writeFileSync(opts.profile!, JSON.stringify(profile));
      summariseProfile(profile);
    }
    const row = (what: string, xs: number[]): BenchRow => ({
      what,
      n: xs.length,
      p50: percentile(xs, 50),
      p99: percentile(xs, 99),
      unit: 'ms',
    });
    const ratio = (p: number) => percentile(apiMs, p) / percentile(bareMs, p);
    const perRequest = (s: number) => (s * 1000) / (rounds * n);
    console.log(
      `floor bench: API p99 ${percentile(apiMs, 99).toFixed(1)} ms, bare p99 ${percentile(bareMs, 99).toFixed(1)} ms: ` +
        `${ratio(99).toFixed(2)}× (goal ≤ 5×); p50 ${ratio(50).toFixed(2)}×; CPU of the servers' thread per request: ` +
        `API ${perRequest(apiCpu).toFixed(2)} ms, bare ${perRequest(bareCpu).toFixed(2)} ms (10 ms clock resolution, summed over ${rounds * n})`,
    );
    return [
      row(`API: ${n} concurrent signed-in \`myClaims(first: 1)\``, apiMs),
      row(`reference: bare node:http, the same ${n} concurrent requests`, bareMs),
      { what: 'API ÷ reference (goal p99 ≤ 5)', n: 1, p50: ratio(50), p99: ratio(99), unit: '×' },
      { what: 'Postgres transactions per API request', n: 5 * n, p50: perRequestTx, p99: perRequestTx, unit: '' },
      { what: "servers' thread CPU per request, API", n: rounds * n, p50: perRequest(apiCpu), p99: perRequest(apiCpu), unit: 'ms' },
      { what: "servers' thread CPU per request, reference", n: rounds * n, p50: perRequest(bareCpu), p99: perRequest(bareCpu), unit: 'ms' },
    ];
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    provider.destroy();
    await anvil.stop();
    await db.drop();
  }
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The area a frame's code belongs to, by its file. */
function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native / V8 builtins)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'Node (' + url.slice(5).split('/')[0] + ')';
  const own = /\/(apps|libs|tools|scripts)\/([^/]+)\/(?:src\/)?([^/]+)/.exec(url);
  return own ? `OpenRead ${own[1]}/${own[2]}/${own[3]}` : url;
}

/** Prints self time by area and the top functions of `profile`. */
function summariseProfile(profile: CpuProfile): void {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id)!;
    const area = areaOf(f.url, f.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const fn = `${f.functionName || '(anonymous)'} ${f.url ? f.url.replace(/^.*node_modules\//, '').replace(/^.*\/(apps|libs|dist)\//, '$1/') : ''}:${f.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const top = (m: Map<string, number>, k: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([what, us]) => `  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${what}`);
  console.log(`\nCPU profile of the measured rounds (${(total / 1000).toFixed(0)} ms sampled), self time by area:`);
  console.log(top(areas, 25).join('\n'));
  console.log('top functions (self time):');
  console.log(top(functions, 40).join('\n'));
}
