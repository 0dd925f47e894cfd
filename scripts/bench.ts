/**
 * `npm run bench`: gas of the main calls, then indexer throughput, lag and size, worklist latency and claim latency
 * under contention, on this machine. Numbers, not assertions: speed and gas goals live here, not in timed tests.
 * `BENCH=gas`, `BENCH=indexer`, `BENCH=worklist`, `BENCH=claim`, `BENCH=start` or `BENCH=preauth` runs one part.
 *
 * Gas: a fresh local chain, printed as a table with the targets of issue 4 (post ≤ 180k, settle ≤ 60k).
 * The ≥ 10,000-step fuzz/invariant run is `npm run test:fuzz` (FUZZ_STEPS, FUZZ_SEED).
 *
 * Indexer:
 *   1. anvil (high block gas limit), contracts deployed, BENCH_EVENTS (default 100,000) market events generated
 *      (Deposited and StudyPosted, ~BENCH_PER_BLOCK per block) with batched eth_sendTransaction
 *   2. backfill into a fresh Postgres database (TEST_PG_URL's server, like the tests) with the real pipeline:
 *      batched getLogs, batched headers, slice decoding, set-based inserts; time per stage
 *   3. steady state: the indexer app and the GraphQL API running; a transaction is mined, and the time until
 *      GraphQL's indexerStatus shows its block is measured, BENCH_LAG_SAMPLES times
 *   4. database size
 * Prints a table (recorded, dated, in docs/benchmarks.md).
 */
import { mined, VOTE_SUPPORT, createProvider, descriptionHash, issuanceArgs, issueStudyId, parameterProposal, signBallot } from '#chain';
import {
  generateBulkEvents,
  ANVIL_MNEMONIC,
  contracts,
  deployGovernance,
  deployOpenRead,
  governanceContracts,
  increaseTime,
  startAnvil,
  devKey,
} from '#devchain';
import { claimBench } from './bench/claim.js';
import { imagingBench } from './bench/imaging.js';
import { floorBench } from './bench/floor.js';
import { preauthBench } from './bench/preauth.js';
import { startBench } from './bench/start.js';
import { printTable } from './bench/table.js';
import { worklistBench } from './bench/worklist.js';
import { storageHoldersGas } from './bench/storage-holders.js';
import { NestFactory } from '@nestjs/core';
import {
  HDNodeWallet,
  MaxUint256,
  Mnemonic,
  NonceManager,
  id as keccakId,
  type Contract,
  type ContractTransactionResponse,
  type JsonRpcProvider,
} from 'ethers';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createApiApp } from '#api';
import { IndexerModule, IndexerPipeline } from '#indexer';
import { parseConfig } from '#config';
import { EventStore } from '#indexer-store';
import { boundsState, createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';

const USD = 1_000_000n;
const TARGETS: Record<string, number> = { postStudy: 180_000, settle: 60_000 };
// issue 16: a storage proof of a 1 GiB study (depth 20), steady state (docs/storage-holders.md#gas)
TARGETS['holders.prove (1 GiB)'] = 100_000;

async function gasBench(): Promise<{ call: string; gas: bigint; note: string }[]> {
  const anvil = await startAnvil();
  const provider: JsonRpcProvider = createProvider(anvil.rpcUrl);
  const rows: { call: string; gas: bigint; note: string }[] = [];
  try {
    const w = Array.from({ length: 10 }, (_, i) =>
      HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${i}`).connect(provider),
    );
    const [owner, verifier, ro, rad, m1, m2, m3, relayer, , treasury] = w;
    const issuer = devKey(11);
    const d = await deployOpenRead(owner, { treasury: treasury.address, studyIdIssuer: issuer.address });
    // valid for a year: the bench moves chain time forward between rounds
    const issued = (id: string) =>
      issuanceArgs(issueStudyId(issuer.privateKey, d.market, d.chainId, ro.address, id, Math.floor(Date.now() / 1000) + 365 * 86400));
    const c = contracts(d, owner);
    const as = (x: HDNodeWallet) => contracts(d, x);
    const measure = async (call: string, tx: Promise<ContractTransactionResponse>, note = '') => {
      const receipt = await mined(tx);
      rows.push({ call, gas: receipt!.gasUsed, note });
    };
    await mined(c.registry.grantRole(keccakId('VERIFIER_ROLE'), verifier.address));
    await mined(
      as(verifier).registry.attest(rad.address, (1n << 51n) - 1n, (1n << 7n) - 1n, BigInt(Math.floor(Date.now() / 1000) + 86400 * 365)),
    );
    await mined(c.token.mint(ro.address, 1_000_000n * USD));
    await mined(as(ro).token.approve(d.market, MaxUint256));
    await mined(as(ro).market.deposit(1n)); // warm the RO's balance slot, as in steady operation
    await measure('deposit', as(ro).market.deposit(10_000n * USD), 'RO balance already non-zero');

    const sid = (i: number) => keccakId(`bench-study-${i}`);
    // two rounds: the first credits zero balances (cold), the second is steady state
    for (const round of [0, 1]) {
      const note = round === 0 ? 'first study' : 'steady state';
      const id = sid(round);
      await measure(
        round ? 'postStudy' : 'postStudy (first)',
        as(ro).market.postStudy(id, 1, 15000, 1, 4, 100n * USD, ...issued(id)),
        note,
      );
      await measure(round ? 'claim' : 'claim (first)', as(rad).market.claim(id), note);
      await measure(round ? 'submitReport' : 'submitReport (first)', as(rad).market.submitReport(id, keccakId(`report-${round}`)), note);
      await increaseTime(provider, 24 * 3600);
      await measure(
        round ? 'settle' : 'settle (first)',
        as(treasury).market.settle(id),
        round ? 'steady state: recipients hold balances' : 'first credit to zero balances',
      );
    }
    await measure('withdraw', as(rad).market.withdraw(1n), 'partial: balance stays non-zero');
    await measure('withdraw (all)', as(treasury).market.withdraw(await c.market.balanceOf(treasury.address)), 'balance to zero (refund)');

    // dispute path
    const disputed = sid(9);
    await mined(as(ro).market.postStudy(disputed, 1, 15000, 1, 4, 100n * USD, ...issued(disputed)));
    await mined(as(rad).market.claim(disputed));
    await mined(as(rad).market.submitReport(disputed, keccakId('r9')));
    await measure('dispute', as(ro).market.dispute(disputed));
    await measure('resolveDispute', c.market.resolveDispute(disputed, 30n * USD), 'by the owner; split');

    // storage holders (issue 16)
    await storageHoldersGas(provider, d, owner, ro, issued, measure);

    // governance
    const g = await deployGovernance(owner, d, {
      members: [m1, m2, m3].map((m) => ({ address: m.address })),
      votingDelay: 1,
      votingPeriod: 100,
      timelockDelay: 50,
      quorumPercent: 40,
    });
    await increaseTime(provider, 1);
    const gov = (x: HDNodeWallet) => governanceContracts(g, x).governor;
    const p = parameterProposal(d.parameters, [{ name: 'feeBps', value: 700n }]);
    await measure('propose', gov(m1).propose(p.targets, p.values, p.calldatas, 'fee 7%'), 'one parameter change');
    const pid = await gov(m1).hashProposal(p.targets, p.values, p.calldatas, descriptionHash('fee 7%'));
    await increaseTime(provider, 2);
    await measure('castVote', gov(m1).castVote(pid, VOTE_SUPPORT.FOR));
    const sig = await signBallot(m2, gov(m2), d.chainId, pid, VOTE_SUPPORT.FOR);
    await measure('castVoteBySig', gov(relayer).castVoteBySig(pid, VOTE_SUPPORT.FOR, m2.address, sig), 'paid by the relayer');
    await increaseTime(provider, 101);
    await measure('queue', gov(relayer).queue(p.targets, p.values, p.calldatas, descriptionHash('fee 7%')));
    await increaseTime(provider, 51);
    await measure(
      'execute',
      gov(relayer).execute(p.targets, p.values, p.calldatas, descriptionHash('fee 7%')),
      'sets feeBps via the timelock',
    );
  } finally {
    provider.destroy();
    await anvil.stop();
  }
  return rows;
}

async function gasTable() {
  const rows = await gasBench();
  const w = Math.max(...rows.map((r) => r.call.length));
  console.log(`\nGas (solc 0.8.x, optimizer 200 runs, cancun; anvil)\n`);
  console.log(`${'call'.padEnd(w)}  ${'gas'.padStart(9)}  ${'target'.padStart(9)}  note`);
  console.log(`${'-'.repeat(w)}  ${'-'.repeat(9)}  ${'-'.repeat(9)}  ----`);
  for (const r of rows) {
    const target = TARGETS[r.call];
    const mark = target === undefined ? '' : r.gas <= BigInt(target) ? ` ≤ ${target} ✓` : ` > ${target} ✗`;
    console.log(`${r.call.padEnd(w)}  ${r.gas.toString().padStart(9)}  ${(target ? String(target) : '').padStart(9)}  ${r.note}${mark}`);
  }
}

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const PER_BLOCK = Number(process.env.BENCH_PER_BLOCK ?? 500);
const BATCH = Number(process.env.BENCH_BATCH_BLOCKS ?? 10);
const LAG_SAMPLES = Number(process.env.BENCH_LAG_SAMPLES ?? 20);
const lagText = (lags: number[]) => {
  const f = (x: number) => x.toFixed(0);
  return `median ${f(lags[Math.floor(lags.length / 2)])} ms, p95 ${f(lags[Math.floor(lags.length * 0.95)] ?? lags.at(-1)!)} ms, max ${f(lags.at(-1)!)} ms`;
};
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 100);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function indexerBench() {
  const anvil = await startAnvil({ args: ['--accounts', '20', '--gas-limit', '1000000000', '--code-size-limit', '100000'] });
  const provider = createProvider(anvil.rpcUrl);
  const db = await createTestDatabase();
  try {
    const deployer = new NonceManager(devKey(0).connect(provider));
    const deployment = await deployOpenRead(deployer, { treasury: devKey(1).address, studyIdIssuer: devKey(11).address });
    const owner = contracts(deployment, deployer);
    const ros = [2, 3, 4, 5, 6, 7, 8, 10];
    for (const i of ros) {
      await mined(owner.token.mint(devKey(i).address, 10n ** 18n));
      await mined((owner.token.connect(devKey(i).connect(provider)) as Contract).approve(deployment.market, 2n ** 255n));
    }
    console.log(`generating ${fmt(EVENTS)} market events on anvil (${PER_BLOCK} per block)…`);
    const g0 = performance.now();
    let lastReport = 0;
    const gen = await generateBulkEvents({
      rpcUrl: anvil.rpcUrl,
      market: deployment.market,
      ros: ros.map((i) => devKey(i).address),
      studyIdIssuerKey: devKey(11).privateKey,
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
      api: {
        port: 0,
        siweDomain: 'bench.local',
        siweUri: 'http://bench.local',
        publicRateLimitBurst: 100_000,
        publicRateLimitPerSecond: 1000,
      }, // the lag probe polls indexerStatus
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
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ indexerStatus { indexedBlock } }' }),
      });
      return ((await res.json()) as { data: { indexerStatus: { indexedBlock: number } } }).data.indexerStatus.indexedBlock;
    };
    while ((await indexed()) < head) await new Promise((r) => setTimeout(r, 50));
    const market = owner.market.connect(new NonceManager(devKey(2).connect(provider))) as Contract;
    const sampleLags = async () => {
      const out: number[] = [];
      for (let i = 0; i < LAG_SAMPLES; i++) {
        const receipt = await mined(market.deposit(1n));
        const minedAt = performance.now();
        while ((await indexed()) < receipt!.blockNumber) await new Promise((r) => setTimeout(r, 5));
        out.push(performance.now() - minedAt);
        await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
      }
      return out.sort((a, b) => a - b);
    };
    // the worklist's bounty ceilings: once caught up, the indexer rewrites every open study's (a new generation),
    // a chunk per poll. Lag when that is done (the steady state), and while it runs again (as after a parameter change)
    const probe = await createDataSource(db.url, { poolSize: 1 }).initialize();
    const waitBounds = async (done: boolean) => {
      for (let t = Date.now(); Date.now() - t < 300_000; await new Promise((r) => setTimeout(r, 50))) {
        const b = await boundsState(probe, config.chainId);
        if (done ? b?.validUntil != null && !b.refreshing : b?.refreshing) return;
      }
      throw new Error('the worklist bounds refresher did not get there in 5 minutes');
    };
    await waitBounds(true);
    const lags = await sampleLags();
    await probe.query(`UPDATE worklist_bounds SET params_digest = 'stale' WHERE chain_id = $1`, [config.chainId]);
    await waitBounds(false);
    const refreshLags = await sampleLags();
    const refreshStillRunning = (await boundsState(probe, config.chainId))?.refreshing === true;
    await probe.destroy();
    await api.close();
    await indexer.close();

    // size
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    // bigint columns arrive as strings
    const size = Number((await c.query<{ b: string }>(`SELECT pg_database_size(current_database()) AS b`)).rows[0].b);
    const tables = (
      await c.query<{ relname: string; b: string; rows: string }>(
        `SELECT relname, pg_total_relation_size(relid) AS b, n_live_tup AS rows FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT 5`,
      )
    ).rows;
    await c.end();

    const t = pipeline.timings;
    const stage = (ms: number) => `${secs(ms)} (${((ms / backfillMs) * 100).toFixed(0)} %)`;
    const rows: [string, string][] = [
      [
        'machine',
        `${(await import('node:os')).cpus().length} cores, Node ${process.version}, Postgres ${(await pgVersion(db.url)) ?? '?'}`,
      ],
      ['events generated on anvil', `${fmt(gen.events)} in ${gen.blocks} blocks (${secs(genMs)})`],
      [
        'backfill',
        `${fmt(events)} events, ${fmt(head - deployment.deployBlock + 1)} blocks in ${secs(backfillMs)}, ${BATCH} blocks (~${fmt(BATCH * PER_BLOCK)} events) per batch`,
      ],
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
      [`steady-state lag, block mined → in GraphQL (poll ${POLL_MS} ms, ${LAG_SAMPLES} samples)`, lagText(lags)],
      [
        `  … while the worklist ceilings of every open study are rewritten${refreshStillRunning ? '' : ' (the refresh ended during the samples)'}`,
        lagText(refreshLags),
      ],
      [
        'database size',
        `${(size / 2 ** 20).toFixed(1)} MiB (${tables.map((r) => `${r.relname} ${(Number(r.b) / 2 ** 20).toFixed(1)} MiB`).join(', ')})`,
      ],
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

async function main() {
  const which = process.env.BENCH ?? 'all';
  if (which === 'all' || which === 'gas') await gasTable();
  if (which === 'all' || which === 'indexer') await indexerBench();
  // worklist latency with 1,000,000 studies (the machine's Postgres: TEST_PG_URL)
  if (which === 'all' || which === 'worklist') printTable(await worklistBench({ queries: Number(process.env.BENCH_QUERIES ?? 300) }));
  // claim latency under 100 concurrent claimers (scripts/bench/claim.ts; BENCH_CLAIM_ROUNDS, default 20)
  if (which === 'all' || which === 'claim') printTable(await claimBench({ rounds: Number(process.env.BENCH_CLAIM_ROUNDS ?? 20) }));
  // `npm start` → URL printed, fresh and restart (scripts/bench/start.ts; BENCH_START_ROUNDS, default 3)
  if (which === 'all' || which === 'start') printTable(await startBench({ rounds: Number(process.env.BENCH_START_ROUNDS ?? 3) }));
  // a signed-in client's requests/s alone and while a client without a session floods (scripts/bench/preauth.ts)
  if (which === 'all' || which === 'preauth')
    printTable(
      await preauthBench({
        seconds: Number(process.env.BENCH_PREAUTH_SECONDS ?? 10),
        concurrency: Number(process.env.BENCH_PREAUTH_CONCURRENCY ?? 4),
        attackers: Number(process.env.BENCH_PREAUTH_ATTACKERS ?? 16),
      }),
    );
  // the RO connector on a generated study on disk, stage by stage, vs a plain copy (scripts/bench/imaging.ts)
  if (which === 'all' || which === 'imaging')
    await imagingBench({ mib: Number(process.env.BENCH_IMAGING_MB ?? 1024), dir: process.env.BENCH_IMAGING_DIR });
  // the request floor: 100 concurrent signed-in myClaims next to a bare node:http endpoint (scripts/bench/floor.ts)
  if (which === 'all' || which === 'floor')
    printTable(
      await floorBench({
        rounds: Number(process.env.BENCH_FLOOR_ROUNDS ?? 30),
        clients: Number(process.env.BENCH_FLOOR_CLIENTS ?? 100),
        profile: process.env.BENCH_FLOOR_PROFILE ? (process.env.BENCH_FLOOR_PROFILE_FILE ?? 'floor.cpuprofile') : undefined,
      }),
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
