import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { NonceManager } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvider } from '#chain';
import { createTestDatabase } from '#db/testing';
import { AnvilHandle, DEV_ROLES, deployOpenRead, devKey, freePort, signInMessage, startAnvil } from '#devchain';
import { PausableProxy } from './support/tcp-proxy.js';

const ROOT = join(import.meta.dirname, '..');
/** the product default is 2 s; the bound asserted is generous (a loaded CI machine), the code is what matters */
const ANSWER_BOUND_MS = 5_000;
const OUTAGE_MS = 20_000;

interface App {
  name: string;
  child: ChildProcess;
  lines: { at: number; text: string }[];
}

/**
 * Dependency faults against the compiled apps, each in its own process as in production: Postgres behind a TCP
 * proxy this test pauses (a partition; the machine's shared Postgres is never signalled), and an anvil this test
 * started, paused with SIGSTOP (a hung node). Runs the compiled apps in dist/ (`npm test` builds first).
 */
describe('dependency faults: deadlines, typed answers, readiness, bounded logs', () => {
  let anvil: AnvilHandle;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let proxy: PausableProxy;
  const apps: App[] = [];
  const ports: Record<'api' | 'indexer' | 'settler' | 'bus', number> = { api: 0, indexer: 0, settler: 0, bus: 0 };
  let token: string;

  const gql = async (query: string, auth = false) => {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${ports.api}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { data?: Record<string, unknown>; errors?: { extensions?: Record<string, unknown> }[] };
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body, ms: Date.now() - started };
  };
  const readyUrls = () => ({
    api: `http://127.0.0.1:${ports.api}/ready`,
    indexer: `http://127.0.0.1:${ports.indexer}/ready`,
    settler: `http://127.0.0.1:${ports.settler}/ready`,
  });
  /** each app's /ready status (0 when it did not answer within the bound) */
  const readiness = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(readyUrls()).map(async ([name, url]) => {
          try {
            return [name, (await fetch(url, { signal: AbortSignal.timeout(ANSWER_BOUND_MS) })).status];
          } catch {
            return [name, 0];
          }
        }),
      ),
    ) as Record<'api' | 'indexer' | 'settler', number>;
  const until = async (what: string, ok: (r: Record<string, number>) => boolean, ms: number) => {
    const end = Date.now() + ms;
    for (;;) {
      const r = await readiness();
      if (ok(r)) return Date.now();
      if (Date.now() > end) throw new Error(`${what}: readiness still ${JSON.stringify(r)} after ${ms} ms`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  const allReady = (r: Record<string, number>) => Object.values(r).every((s) => s === 200);

  beforeAll(async () => {
    anvil = await startAnvil({ args: ['--accounts', '20'] });
    const provider = createProvider(anvil.rpcUrl);
    const deployer = new NonceManager(devKey(DEV_ROLES.deployer).connect(provider));
    const deployment = await deployOpenRead(deployer, {
      treasury: devKey(DEV_ROLES.treasuryOwners[0]).address,
      studyIdIssuer: devKey(DEV_ROLES.studyIdIssuer).address,
    });
    provider.destroy();
    db = await createTestDatabase();
    const pgUrl = new URL(db.url);
    proxy = new PausableProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    pgUrl.port = String(await proxy.start());
    pgUrl.hostname = '127.0.0.1';
    [ports.api, ports.indexer, ports.settler, ports.bus] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      DATABASE_URL: pgUrl.toString(),
      RPC_URL: anvil.rpcUrl,
      CHAIN_ID: String(deployment.chainId),
      TOKEN_ADDRESS: deployment.token,
      PARAMETERS_ADDRESS: deployment.parameters,
      REGISTRY_ADDRESS: deployment.registry,
      MARKET_ADDRESS: deployment.market,
      DEPLOY_BLOCK: String(deployment.deployBlock),
      SETTLER_PRIVATE_KEY: devKey(DEV_ROLES.settler).privateKey,
      API_PORT: String(ports.api),
      SIWE_DOMAIN: 'openread.test',
      SIWE_URI: 'https://openread.test',
      INDEXER_HEALTH_PORT: String(ports.indexer),
      INDEXER_POLL_MS: '200',
      SETTLER_HEALTH_PORT: String(ports.settler),
      SETTLER_BUS_PORT: String(ports.bus),
      SETTLER_POLL_MS: '500',
      PRUNE_INTERVAL_MS: '1000',
    };
    for (const name of ['settler', 'indexer', 'api']) {
      const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const app: App = { name, child, lines: [] };
      let partial = '';
      const collect = (d: Buffer) => {
        const parts = (partial + d.toString()).split('\n');
        partial = parts.pop()!;
        for (const text of parts) if (text.trim()) app.lines.push({ at: Date.now(), text });
      };
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);
      apps.push(app);
    }
    await until('start', allReady, 30_000);

    // a signed-in account, for an operation that reads the chain (its balance)
    const wallet = devKey(DEV_ROLES.spare[0]);
    const nonce = (await gql(`mutation { nonce { nonce domain uri chainId } }`)).body.data!.nonce as Parameters<typeof signInMessage>[0];
    const message = signInMessage(nonce, wallet.address);
    const login = await gql(
      `mutation { login(message: ${JSON.stringify(message)}, signature: "${await wallet.signMessage(message)}") { token } }`,
    );
    token = (login.body.data!.login as { token: string }).token;
  }, 60_000);

  afterAll(async () => {
    proxy?.resume();
    if (anvil) process.kill(anvil.pid, 'SIGCONT');
    await Promise.all(
      apps.map(
        (a) =>
          new Promise<void>((resolve) => {
            if (a.child.exitCode !== null || a.child.signalCode !== null) return resolve();
            const kill = setTimeout(() => a.child.kill('SIGKILL'), 10_000);
            a.child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            a.child.kill('SIGTERM');
          }),
      ),
    );
    await proxy?.stop();
    await anvil?.stop();
    await db?.drop();
  }, 30_000);

  const STATUS = `{ indexerStatus { indexedBlock } }`;
  const BALANCE = `{ myBalance { asOfBlock } }`;

  it('Postgres partitioned: typed DATABASE_UNAVAILABLE (503, Retry-After) in time, readiness false, bounded logs, recovery', async () => {
    expect((await gql(STATUS)).body.errors).toBeUndefined();
    expect((await gql(BALANCE, true)).body.errors).toBeUndefined();

    const pausedAt = Date.now();
    proxy.pause();
    try {
      // neither RATE_LIMITED (the limiter's store is down, the client did nothing) nor INTERNAL
      for (const r of await Promise.all([gql(STATUS), gql(BALANCE, true), gql(STATUS)])) {
        expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryable: true });
        expect(r.status).toBe(503);
        expect(Number(r.retryAfter)).toBeGreaterThan(0);
        expect(r.ms).toBeLessThan(ANSWER_BOUND_MS);
      }
      const notReady = await until('Postgres paused', (r) => Object.values(r).every((s) => s === 503), 10_000);
      expect(notReady - pausedAt).toBeLessThan(10_000);

      // the rest of the outage under load: every answer typed and in time
      const codes = new Set<unknown>();
      while (Date.now() - pausedAt < OUTAGE_MS)
        for (const r of await Promise.all([gql(STATUS), gql(BALANCE, true)])) {
          codes.add(r.body.errors?.[0].extensions?.code);
          expect(r.ms).toBeLessThan(ANSWER_BOUND_MS);
        }
      expect([...codes]).toEqual(['DATABASE_UNAVAILABLE']);
    } finally {
      proxy.resume();
    }
    const resumedAt = Date.now();
    const outageLines = apps.flatMap((a) => a.lines.filter((l) => l.at >= pausedAt && l.at < resumedAt).map((l) => `${a.name}: ${l.text}`));
    // a repeated error is logged once and then counted (the bound: < 100 lines for a 60 s outage)
    expect(outageLines.length, outageLines.join('\n')).toBeLessThan(40);
    // an outage is not a crash: no stack trace per request
    expect(outageLines.filter((l) => /ExceptionsHandler|^\w+: +at /.test(l))).toEqual([]);

    const readyAgain = await until('Postgres resumed', allReady, 15_000);
    expect(readyAgain - resumedAt).toBeLessThan(15_000);
    expect((await gql(STATUS)).body.errors).toBeUndefined();
    expect((await gql(BALANCE, true)).body.errors).toBeUndefined();
  }, 60_000);

  it('chain node hung: CHAIN_UNAVAILABLE in time, Postgres-only reads go on, readiness false, recovery', async () => {
    const pausedAt = Date.now();
    process.kill(anvil.pid, 'SIGSTOP');
    try {
      const [balance, status] = await Promise.all([gql(BALANCE, true), gql(STATUS)]);
      expect(balance.body.errors?.[0].extensions).toMatchObject({ code: 'CHAIN_UNAVAILABLE', retryable: true });
      expect(balance.status).toBe(503);
      expect(balance.ms).toBeLessThan(ANSWER_BOUND_MS);
      // reads that need only Postgres keep working
      expect(status.body.errors).toBeUndefined();
      expect(status.ms).toBeLessThan(ANSWER_BOUND_MS);
      const notReady = await until('anvil stopped', (r) => Object.values(r).every((s) => s === 503), 10_000);
      expect(notReady - pausedAt).toBeLessThan(10_000);
    } finally {
      process.kill(anvil.pid, 'SIGCONT');
    }
    const resumedAt = Date.now();
    const readyAgain = await until('anvil resumed', allReady, 15_000);
    expect(readyAgain - resumedAt).toBeLessThan(15_000);
    expect((await gql(BALANCE, true)).body.errors).toBeUndefined();
  }, 60_000);
});
