/**
 * `BENCH=preauth npm run bench`: what a legitimate signed-in client keeps getting from the API while one client
 * without a session attacks it before authentication (issue 13 item 3; goal: within 2× of no attack).
 *
 * The API over real HTTP in this process with its default limits (anvil with the contracts and a throwaway database
 * of the machine's Postgres behind it; no indexer: the measured query reads the database only), except per-account
 * and per-token rate limits high enough not to throttle the legitimate client, whose requests/s is what is measured. The client
 * sends `{ myNotifications { kind } }` with BENCH_PREAUTH_CONCURRENCY (default 4) requests in flight for
 * BENCH_PREAUTH_SECONDS (default 10): once alone, once while the attacker, from another address (127.0.0.2) with
 * BENCH_PREAUTH_ATTACKERS (default 16) requests in flight, sends in turn: 1 MB bodies, alias bombs (5,000 aliased
 * `__typename`), full introspection queries, and 500 aliases of a protected field without a session.
 * BENCH_PREAUTH_ATTACK=1,2 sends only those kinds (0–3, in that order); BENCH_PREAUTH_PROBE=1 first times one
 * request of each kind alone. BENCH_PREAUTH_PINNED=1 runs the attacker in a process of its own on CPU 1 and pins this
 * process (the API and the measured client) to CPU 0, so that the attacker's own work (writing 1 MB bodies) does not
 * take the API's core (issue 13's measurement question: is the remaining loss the API's or the machine's?).
 */
import { NonceManager, Wallet } from 'ethers';
import { request, Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { getIntrospectionQuery } from 'graphql';
import { createApiApp } from '#api';
import { createProvider } from '#chain';
import { parseConfig } from '#config';
import { createTestDatabase } from '#db/testing';
import { deployOpenRead, devKey, GraphqlHttp, startAnvil, threadCpuSeconds } from '#devchain';
import { Worker } from 'node:worker_threads';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './table.js';

interface Sent {
  status: number;
}

/** One POST of `body` to `url` from `agent`'s address; a connection the server closes early counts as answered. */
export function post(url: URL, agent: Agent, body: string | Buffer, token?: string): Promise<Sent> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token && { authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', () => resolve({ status: 0 }));
    req.end(body);
  });
}

/** Requests/s of `send` with `concurrency` in flight for `seconds`, and how many answered 200. */
async function closedLoop(
  seconds: number,
  concurrency: number,
  send: (i: number) => Promise<Sent>,
): Promise<{ rps: number; ok: number; n: number }> {
  const until = Date.now() + seconds * 1000;
  let n = 0;
  let ok = 0;
  const start = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const r = await send(n++);
        if (r.status === 200) ok++;
      }
    }),
  );
  return { rps: n / ((Date.now() - start) / 1000), ok, n };
}

export async function preauthBench(opts: { seconds?: number; concurrency?: number; attackers?: number } = {}): Promise<BenchRow[]> {
  const seconds = opts.seconds ?? 10;
  const concurrency = opts.concurrency ?? 4;
  const attackers = opts.attackers ?? 16;
  // BENCH_PREAUTH_PINNED: this process (the API, its measured client, and anvil, which it starts) on CPU 0 only;
  // the attacker's process on CPU 1 (Postgres, shared, is not pinned)
  if (process.env.BENCH_PREAUTH_PINNED) execFileSync('taskset', ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const anvil = await startAnvil({ args: ['--accounts', '20'] });
  const db = await createTestDatabase();
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const provider = createProvider(anvil.rpcUrl);
    const deployer = new NonceManager(devKey(0).connect(provider));
    const deployment = await deployOpenRead(deployer, { treasury: devKey(1).address, studyIdIssuer: devKey(11).address });
    const config = parseConfig({
      databaseUrl: db.url,
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      contracts: { ...deployment },
      api: {
        port: 0,
        siweDomain: 'bench.local',
        siweUri: 'http://bench.local',
        rateLimitBurst: 1_000_000,
        rateLimitPerSecond: 1_000_000,
        // the measured client's own lane of the in-memory limits too; the attacker's address keeps the defaults
        tokenBurst: 1_000_000,
        tokenPerSecond: 1_000_000,
      },
      indexer: { confirmations: 0, healthPort: 0 },
      settler: {},
      bus: { settlerPort: 1 },
      relay: { privateKey: devKey(19).privateKey },
    });
    const api = await createApiApp(config);
    await api.init();
    await api.listen(0, '127.0.0.1');
    closers.push(() => api.close());
    const url = new URL(`${await api.getUrl()}/graphql`.replace('[::1]', '127.0.0.1'));

    const client = new GraphqlHttp(url.toString());
    await client.signIn(new Wallet(Wallet.createRandom().privateKey));
    const legit = new Agent({ keepAlive: true, localAddress: '127.0.0.1' });
    const attacker = new Agent({ keepAlive: true, localAddress: '127.0.0.2' });
    closers.push(async () => (legit.destroy(), attacker.destroy()));
    const query = JSON.stringify({ query: `{ myNotifications { kind } }` });
    const legitimate = () => closedLoop(seconds, concurrency, () => post(url, legit, query, client.token!));

    const allAttacks = [
      JSON.stringify({ query: `{ __typename }`, variables: { pad: 'A'.repeat(1_000_000) } }),
      JSON.stringify({ query: `{ ${Array.from({ length: 5000 }, (_, i) => `a${i}: __typename`).join(' ')} }` }),
      JSON.stringify({ query: getIntrospectionQuery() }),
      JSON.stringify({ query: `{ ${Array.from({ length: 500 }, (_, i) => `c${i}: myClaims { id }`).join(' ')} }` }),
    ];
    const only = process.env.BENCH_PREAUTH_ATTACK?.split(',').map(Number);
    const attacks = only ? allAttacks.filter((_, i) => only.includes(i)) : allAttacks;
    await legitimate(); // warm-up (JIT, pools)
    if (process.env.BENCH_PREAUTH_PROBE)
      for (const body of attacks) {
        const t0 = performance.now();
        const r = await post(url, attacker, body);
        console.log(`one attack request: ${r.status} in ${(performance.now() - t0).toFixed(1)} ms (${body.length} bytes)`);
      }
    let elu = performance.eventLoopUtilization();
    let cpu = threadCpuSeconds();
    const alone = await legitimate();
    const aloneBusy = performance.eventLoopUtilization(elu).utilization;
    const aloneCpu = threadCpuSeconds() - cpu;
    // the attacker floods until told to stop, then reports how many requests it sent: in a worker thread (its own
    // work, building and writing bodies, does not share the API's event loop), or with BENCH_PREAUTH_PINNED in a
    // process of its own pinned to CPU 1 while this process (the API and the measured client) is pinned to CPU 0
    const pinned = !!process.env.BENCH_PREAUTH_PINNED;
    const job = { url: url.toString(), attacks, concurrency: attackers };
    const script = new URL('./preauth-attacker.js', import.meta.url);
    const child = pinned
      ? spawn('taskset', ['-c', '1', process.execPath, fileURLToPath(script)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : null;
    const worker = pinned ? null : new Worker(script, { workerData: job });
    const fromAttacker = <T>() =>
      new Promise<T>((resolve) => (child ? child.once('message', (m) => resolve(m as T)) : worker!.once('message', (m: T) => resolve(m))));
    const toAttacker = (m: unknown) => (child ? child.send(m as string) : worker!.postMessage(m));
    if (child) child.send(job);
    await fromAttacker<string>();
    elu = performance.eventLoopUtilization();
    cpu = threadCpuSeconds();
    const attacked = await legitimate();
    const attackedBusy = performance.eventLoopUtilization(elu).utilization;
    const attackedCpu = threadCpuSeconds() - cpu;
    toAttacker('stop');
    const attackRequests = await fromAttacker<number>();
    if (worker) await worker.terminate();
    if (child) await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    console.log(
      `preauth bench${pinned ? " (this process on CPU 0, the attacker's process on CPU 1)" : ''}: API event loop busy ` +
        `${(aloneBusy * 100).toFixed(0)} % alone, ${(attackedBusy * 100).toFixed(0)} % under attack`,
    );
    const ratio = alone.rps / Math.max(attacked.rps, 1e-9);
    // the same ratio per CPU second this thread (the API and the measured client) got: what the attack takes of the
    // API's own work, whatever share of the cores the machine gave the thread in each window
    const perCpu = (r: { n: number }, s: number) => r.n / Math.max(s, 1e-9);
    const cpuRatio = perCpu(alone, aloneCpu) / Math.max(perCpu(attacked, attackedCpu), 1e-9);
    console.log(
      `preauth bench: the API's thread got ${aloneCpu.toFixed(1)} CPU s alone (${perCpu(alone, aloneCpu).toFixed(0)} legitimate requests per CPU s), ` +
        `${attackedCpu.toFixed(1)} CPU s under attack (${perCpu(attacked, attackedCpu).toFixed(0)} per CPU s): ${cpuRatio.toFixed(2)}× per CPU second`,
    );
    console.log(
      `preauth bench: alone ${alone.rps.toFixed(0)} req/s (${alone.ok}/${alone.n} ok); under attack ${attacked.rps.toFixed(0)} req/s ` +
        `(${attacked.ok}/${attacked.n} ok) while the attacker sent ${(attackRequests / seconds).toFixed(0)} req/s; ratio ${ratio.toFixed(2)}× (goal ≤ 2×)`,
    );
    return [
      { what: `legitimate client alone (${concurrency} in flight)`, n: alone.n, p50: alone.rps, p99: alone.rps, unit: 'req/s' },
      {
        what: `legitimate client under pre-auth attack (${attackers} in flight)`,
        n: attacked.n,
        p50: attacked.rps,
        p99: attacked.rps,
        unit: 'req/s',
      },
      { what: 'throughput lost to the attack (alone ÷ under attack; goal ≤ 2)', n: 1, p50: ratio, p99: ratio, unit: '×' },
      {
        what: "… per CPU second of the API's thread (legitimate requests per CPU s, alone ÷ under attack)",
        n: 1,
        p50: cpuRatio,
        p99: cpuRatio,
        unit: '×',
      },
    ];
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    await anvil.stop();
    await db.drop();
  }
}
