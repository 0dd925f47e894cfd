/**
 * `BENCH=claim npm run bench`: latency of a gasless claim under 100 concurrent claimers (issue 6: "claim p99 under
 * 100 concurrent claimers").
 *
 * The real stack: anvil with the contracts, a throwaway database of the machine's Postgres (TEST_PG_URL), the
 * indexer and the GraphQL API over real HTTP in this process with their default settings (relay poll 250 ms,
 * indexer poll 1 s), except 0 confirmations and no per-address limit on calls without a session (all the clients
 * are 127.0.0.1). The radiologists are in a worker thread (claim-clients.ts): 100 new wallets, signed in,
 * credentialed for CT in CA in one block. All studies are posted in one block and indexed first; then, round after
 * round, the 100 claim one study at the same moment, each the way a client does (tools/devchain/src/claim-race.ts):
 * prepareGaslessClaim → sign the EIP-712 forward request → relayGasless, which answers once the claim is mined (the
 * winner) or refused (the losers: ALREADY_CLAIMED). The first `warmup` rounds are not counted (JIT). Every round must
 * have exactly one winner, or the bench fails. For comparison, as many rounds of a claim by one claimer alone, and
 * of the 100 clients sending the cheapest signed-in query all at once.
 */
import { NestFactory } from '@nestjs/core';
import { NonceManager, type Contract } from 'ethers';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { createApiApp } from '#api';
import { IndexerModule } from '#indexer';
import {
  contracts,
  deployOpenRead,
  startAnvil,
  type ClaimAttempt,
  GraphqlHttp,
  attestTogether,
  indexedUpTo,
  postTogether,
  threadCpuSeconds,
  devKey,
} from '#devchain';
import { createProvider, mined } from '#chain';
import { parseConfig } from '#config';
import { createTestDatabase } from '#db/testing';
import type { FromClients, ToClients } from './claim-clients.js';
import { type BenchRow, percentile } from './table.js';

const USD = 1_000_000n;

export async function claimBench(opts: { rounds?: number; claimers?: number; warmup?: number } = {}): Promise<BenchRow[]> {
  const rounds = opts.rounds ?? 20;
  const n = opts.claimers ?? 100;
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
    const ro = new NonceManager(devKey(2).connect(provider));
    const roMarket = owner.market.connect(ro) as Contract;
    const funds = BigInt(warmup + 2 * rounds) * 10n * USD;
    await mined(owner.token.mint(devKey(2).address, funds));
    await mined((owner.token.connect(ro) as Contract).approve(deployment.market, funds));
    await mined(roMarket.deposit(funds));

    const config = parseConfig({
      databaseUrl: db.url,
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      contracts: { ...deployment },
      // the 100 radiologists all sign in from 127.0.0.1: the per-address limit of calls without a session would
      // treat them as one client
      api: {
        port: 0,
        siweDomain: 'bench.local',
        siweUri: 'http://bench.local',
        publicRateLimitBurst: 100_000,
        publicRateLimitPerSecond: 1000,
      },
      indexer: { confirmations: 0, healthPort: 0 },
      settler: {},
      bus: { settlerPort: 1 },
      relay: { privateKey: devKey(19).privateKey },
    });
    const indexer = await NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger: ['error'] });
    await indexer.init();
    closers.push(() => indexer.close());
    const api = await createApiApp(config);
    await api.init();
    await api.listen(0, '127.0.0.1');
    closers.unshift(() => api.close());
    const url = `${await api.getUrl()}/graphql`.replace('[::1]', '127.0.0.1');

    const worker = new Worker(new URL('./claim-clients.js', import.meta.url), { workerData: { url, claimers: n } });
    closers.unshift(() => worker.terminate());
    const fromClients = () =>
      new Promise<FromClients>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        worker.once('error', onError);
        worker.once('message', (m: FromClients) => {
          worker.off('error', onError);
          resolve(m);
        });
      });
    const ready = await fromClients();
    if (ready.kind !== 'ready') throw new Error('the clients did not start');
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await attestTogether(provider, owner.registry, ready.addresses, expiry);
    const posted = await postTogether(provider, roMarket, warmup + 2 * rounds, devKey(11).privateKey);
    const studyIds = posted.studyIds.slice(0, warmup + rounds);
    const soloIds = posted.studyIds.slice(warmup + rounds);
    const block = posted.block;
    await indexedUpTo(new GraphqlHttp(url), block);
    console.log(`claim bench: ${n} claimers, ${warmup} warm-up rounds, then ${rounds} measured rounds…`);

    const attempts: ClaimAttempt[] = [];
    const raceMs: number[] = [];
    const clientElu: number[] = [];
    let clientCpu = 0;
    let measured: {
      elu: ReturnType<typeof performance.eventLoopUtilization>;
      cpu: NodeJS.CpuUsage;
      thread: number;
      pg: number;
      anvil: number;
      pgPids: number[];
    } | null = null;
    for (const [round, studyId] of studyIds.entries()) {
      if (round === warmup) {
        const pgPids = await backendPids(db.url);
        measured = {
          elu: performance.eventLoopUtilization(),
          cpu: process.cpuUsage(),
          thread: threadCpuSeconds(),
          pg: sumCpu(pgPids),
          anvil: cpuSeconds(anvil.pid),
          pgPids,
        };
      }
      const t0 = performance.now();
      worker.postMessage({ kind: 'race', studyId } satisfies ToClients);
      const raced = await fromClients();
      const ms = performance.now() - t0;
      if (raced.kind !== 'raced') throw new Error('unexpected message from the clients');
      const winners = raced.attempts.filter((a) => a.code === null);
      const codes = new Set(raced.attempts.filter((a) => a.code !== null).map((a) => a.code));
      if (winners.length !== 1 || codes.size !== 1 || !codes.has('ALREADY_CLAIMED'))
        throw new Error(`round ${round}: ${winners.length} winners, loser codes ${[...codes].join(', ')}`);
      if (round < warmup) continue;
      attempts.push(...raced.attempts);
      raceMs.push(ms);
      clientElu.push(raced.eventLoopUtilization);
      clientCpu += raced.cpuSeconds;
    }
    const elu = performance.eventLoopUtilization(measured!.elu).utilization;
    const cpu = process.cpuUsage(measured!.cpu);
    const apiThreadCpu = threadCpuSeconds() - measured!.thread;
    const pgCpu = sumCpu(measured!.pgPids) - measured!.pg;
    const anvilCpu = cpuSeconds(anvil.pid) - measured!.anvil;
    // without contention: one claimer alone, as many rounds
    const solo: ClaimAttempt[] = [];
    for (const studyId of soloIds) {
      worker.postMessage({ kind: 'solo', studyId } satisfies ToClients);
      const m = await fromClients();
      if (m.kind !== 'solo' || m.attempt.code !== null) throw new Error(`a claim without contention failed: ${JSON.stringify(m)}`);
      solo.push(m.attempt);
    }
    // the floor: every claimer sends the cheapest signed-in query (session, rate-limit bucket, roles) at once
    const baseline: number[] = [];
    for (let i = 0; i < rounds; i++) {
      worker.postMessage({ kind: 'baseline' } satisfies ToClients);
      const m = await fromClients();
      if (m.kind !== 'baseline') throw new Error('unexpected message from the clients');
      baseline.push(...m.ms);
    }
    const perRound = (s: number) => `${Math.round((s * 1000) / rounds)} ms`;

    const winners = attempts.filter((a) => a.code === null);
    const losers = attempts.filter((a) => a.code !== null);
    const row = (what: string, xs: number[]): BenchRow => ({
      what,
      n: xs.length,
      p50: percentile(xs, 50),
      p99: percentile(xs, 99),
      unit: 'ms',
    });
    const rows = [
      row(
        'claim, winner: prepare + sign + relay until mined',
        winners.map((a) => a.totalMs),
      ),
      row(
        `claim, losers (${losers.length / rounds} per round, ALREADY_CLAIMED): prepare + sign + relay`,
        losers.map((a) => a.totalMs),
      ),
      row(
        'claim, everyone',
        attempts.map((a) => a.totalMs),
      ),
      row(
        'relayGasless alone, winner',
        winners.map((a) => a.relayMs),
      ),
      row(
        'relayGasless alone, losers',
        losers.filter((a) => a.failedAt === 'relay').map((a) => a.relayMs),
      ),
      row(
        'prepareGaslessClaim alone, everyone',
        attempts.map((a) => a.prepareMs),
      ),
      row(
        'signing the forward request (client)',
        attempts.filter((a) => a.failedAt !== 'prepare').map((a) => a.signMs),
      ),
      row(`race: ${n} claims sent → the last answered`, raceMs),
      row(
        'for comparison: a claim without contention (one claimer alone): prepare + sign + relay until mined',
        solo.map((a) => a.totalMs),
      ),
      row(
        '… its relayGasless alone',
        solo.map((a) => a.relayMs),
      ),
      row(`for comparison: ${n} concurrent myClaims queries (the cost of any signed-in request)`, baseline),
    ];
    const atPrepare = losers.filter((a) => a.failedAt === 'prepare').length;
    console.log(
      `\nclaim bench, ${rounds} rounds (per round): API + indexer event loop busy ${(elu * 100).toFixed(0)} % of the time, ` +
        `clients' event loop ${((clientElu.reduce((a, b) => a + b, 0) / clientElu.length) * 100).toFixed(0)} %; ` +
        `CPU: API + indexer thread ${perRound(apiThreadCpu)}, clients' thread ${perRound(clientCpu)}, ` +
        `Node process in all (with GC and I/O threads) ${perRound((cpu.user + cpu.system) / 1e6)}, Postgres (this database) ${perRound(pgCpu)}, anvil ${perRound(anvilCpu)}; ` +
        `losers refused at prepare (the index already showed the claim) ${atPrepare} of ${losers.length}`,
    );
    return rows;
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    provider.destroy();
    await anvil.stop();
    await db.drop();
  }
}

/** The Postgres backends connected to the database at `url` (the API's and the indexer's pools). */
async function backendPids(url: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    return rows.map((r: { pid: number }) => r.pid);
  } finally {
    await c.end();
  }
}

const sumCpu = (pids: number[]) => pids.reduce((s, pid) => s + (cpuSeconds(pid) || 0), 0);

/** user + system CPU seconds of a local process (from /proc); NaN if it is gone */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}
