import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexlify, JsonRpcProvider, randomBytes } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ROLES, Deployment, OpenReadContracts, contracts, devKey, freePort, increaseTime } from '#devchain';
import { createProvider, mined } from '#chain';
import { modalityIndex } from '#domain';
import { DemoResult, runDemo } from '../scripts/demo.js';
import { Block, fetchSchema, namedOperations, readBlocks, runJourney, validateGraphqlBlocks } from './support/doc-examples.js';

// The documentation's journeys, run as written (docs/api/README.md, "How the examples on these pages run") on the
// stack a newcomer gets: the compiled `npm start` launcher (embedded Postgres, anvil mining a block a second, the
// contracts, DAO and treasury Safe it deploys, the three apps) on free ports with its own state directory, then
// `npm run demo` against it. Each journey starts from what the demo leaves (the RO "Demo Imaging" of #2 and #13,
// radiologists #3 and #4 verified, eight studies posted); a precondition the demo does not make (fees in the
// treasury) the journey's test makes with the dev accounts through the deployment the launcher wrote.
const ROOT = join(import.meta.dirname, '..');
const LAUNCHER = join(ROOT, 'dist', 'scripts', 'start.js');
const USD = 1_000_000n;
const CLIENT = 'docs/api/README.md';
const journey = (page: string) => [CLIENT, page];
const SETTLED = 5;

describe('the documentation examples run against the stack of `npm start` and `npm run demo`', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'openread-docs-'));
  let launcher: ChildProcess;
  let output = '';
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let owner: OpenReadContracts; // read-only views, and the deployer's (#0) TestUSD
  let db: pg.Pool;
  let demo: DemoResult;
  const sent: string[] = [];
  const realFetch = globalThis.fetch;
  const w = (i: number) => devKey(i).connect(provider);
  const as = (i: number) => contracts(deployment, w(i));

  /** Waits for `check` to hold, polling; `what` names it in the failure. */
  const waitFor = async <T>(what: string, check: () => Promise<T>, ms = 30_000): Promise<T> => {
    for (const until = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 200))) {
      const value = await check();
      if (value) return value;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    }
  };
  /** Runs a journey page, recording the GraphQL documents it sends; every operation the page shows must be among them. */
  const run = async (page: string) => {
    sent.length = 0;
    const operations = await runJourney(journey(page));
    const shown = namedOperations(readBlocks(page));
    expect(shown.size, `${page} shows no runnable operation`).toBeGreaterThan(0);
    for (const [name, text] of shown) {
      expect(operations.get(name)).toBe(text);
      expect(sent.includes(text), `${page}: operation ${name} is shown but never sent`).toBe(true);
    }
  };

  beforeAll(async () => {
    const [api, anvil, postgres, bus, indexer] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPENREAD_STATE_DIR: stateDir,
      API_PORT: String(api),
      ANVIL_PORT: String(anvil),
      EMBEDDED_PG_PORT: String(postgres),
      SETTLER_BUS_PORT: String(bus),
      INDEXER_HEALTH_PORT: String(indexer),
    };
    // a newcomer's shell: no database, chain or admin of another stack
    for (const k of ['DATABASE_URL', 'RPC_URL', 'ADMIN_ADDRESSES', 'NATS_URL']) delete env[k];
    for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
    // `npm start` execs this after the build (dist is built before the tests); own process group, as in a terminal
    launcher = spawn(process.execPath, [LAUNCHER], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    launcher.stdout!.on('data', (d) => (output += d));
    launcher.stderr!.on('data', (d) => (output += d));
    exit = new Promise((resolve) => launcher.once('exit', (code, signal) => resolve({ code, signal })));
    await waitFor(
      'npm start to print that OpenRead is running',
      async () => {
        if (launcher.exitCode !== null || launcher.signalCode !== null)
          throw new Error(`the launcher exited ${launcher.exitCode ?? launcher.signalCode}:\n${output.slice(-3000)}`);
        return output.includes('OpenRead is running');
      },
      120_000,
    );
    const apiUrl = `http://127.0.0.1:${api}/graphql`;
    expect(output).toContain(`:${api}/graphql`);

    deployment = JSON.parse(readFileSync(join(stateDir, 'deployment.json'), 'utf8')) as Deployment & { rpcUrl: string };
    const rpcUrl = (deployment as Deployment & { rpcUrl: string }).rpcUrl;
    provider = createProvider(rpcUrl);
    owner = as(DEV_ROLES.deployer);
    db = new pg.Pool({ connectionString: `postgres://postgres:openread@127.0.0.1:${postgres}/openread`, max: 1 });

    demo = await runDemo({ apiUrl, rpcUrl, stateDir, log: () => {} });
    // the demo's postings are long indexed when a user starts
    await waitFor(
      'the demo studies indexed',
      async () =>
        (await db.query(`SELECT count(*)::int AS n FROM studies WHERE study_id = ANY($1)`, [demo.studyIds.map((id) => id.toLowerCase())]))
          .rows[0].n === demo.studyIds.length,
    );

    // where the doc client finds the stack (docs/api/README.md)
    process.env.OPENREAD_API = apiUrl;
    process.env.OPENREAD_RPC = rpcUrl;
    process.env.OPENREAD_DEPLOYMENT = join(stateDir, 'deployment.json');
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      if (typeof init?.body === 'string' && String(input) === process.env.OPENREAD_API) sent.push(JSON.parse(init.body).query);
      return realFetch(input, init);
    }) as typeof fetch;
  }, 240_000);

  afterAll(async () => {
    globalThis.fetch = realFetch;
    await db?.end();
    provider?.destroy();
    try {
      if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
        // what a process manager sends: the launcher stops apps, Postgres and anvil in order and exits 0
        launcher.kill('SIGTERM');
        const stopped = await Promise.race([exit, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
        if (!stopped) launcher.kill('SIGKILL');
        expect(stopped, `the launcher did not stop:\n${output.slice(-3000)}`).toEqual({ code: 0, signal: null });
        expect(output).toContain('OpenRead stopped.');
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('every other GraphQL block of docs/ is valid against the API schema', async () => {
    const pages = [
      'README.md',
      ...readdirSync('docs', { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.md'))
        .map((f) => join('docs', f)),
    ];
    const blocks: Block[] = pages.flatMap(readBlocks);
    expect(blocks.filter((b) => b.lang === 'graphql').length).toBeGreaterThan(20);
    expect(validateGraphqlBlocks(await fetchSchema(process.env.OPENREAD_API!, realFetch), blocks)).toEqual([]);
  });

  // Before the radiologist's journey: its day of chain time escalates the demo's STAT CT study to its maximum, where a
  // change of the base bounty no longer shows in the worklist the member watches.
  it('DAO member: propose → vote → queue → execute → the worklist bounty changes', async () => {
    const before = (await owner.parameters.baseBounty(modalityIndex('CT'))) as bigint;
    await run('docs/api/dao-member.md');
    expect(await owner.parameters.baseBounty(modalityIndex('CT'))).toBe(before + 10n * USD);
  });

  it('radiologist: sign in → worklist → claim → report → time passes → paid → withdraw', async () => {
    const radiologist = w(DEV_ROLES.radiologists[0]).address;
    const tokensBefore = (await owner.token.balanceOf(radiologist)) as bigint;
    await run('docs/api/radiologist.md');
    // the journey read one of the demo's studies (its worklist: CT/MR in CA), was paid and withdrew it all
    const read = [];
    for (const id of demo.studyIds) {
      const s = await owner.market.getStudy(id);
      if (s.radiologist === radiologist) read.push(s);
    }
    expect(read.map((s) => Number(s.status))).toEqual([SETTLED]);
    expect((await owner.token.balanceOf(radiologist)) - tokensBefore).toBeGreaterThan(0n);
    expect(await owner.market.balanceOf(radiologist)).toBe(0n);
  });

  it('RO billing: onboard → fund → post with a real payload → ledger → reconciliation → CSV → statement', async () => {
    const depositor = w(DEV_ROLES.roDepositor).address;
    const balanceBefore = (await owner.market.balanceOf(depositor)) as bigint;
    const payloads = async () => (await db.query(`SELECT count(*)::int AS n FROM study_payloads`)).rows[0].n as number;
    const payloadsBefore = await payloads();
    await run('docs/api/ro-billing.md');
    // #2 is the demo RO's depositor: 1,000 tUSD deposited, 200 escrowed by the posting
    expect((await owner.market.balanceOf(depositor)) - balanceBefore).toBe(800n * USD);
    expect(await payloads()).toBe(payloadsBefore + 1);
  });

  it('treasury owner: propose → sign → execute a payout', async () => {
    // fees in the treasury: radiologist #4 reads the demo's US study in FL (straight to the contract), the settler settles it
    const studyId = demo.studyIds[4];
    expect(Number((await owner.market.getStudy(studyId)).status)).not.toBe(SETTLED);
    const reader = as(DEV_ROLES.radiologists[1]).market;
    await mined(reader.claim(studyId));
    await mined(reader.submitReport(studyId, hexlify(randomBytes(32))));
    await increaseTime(provider, 24 * 3600 + 60);
    await waitFor('the settler to settle', async () => Number((await owner.market.getStudy(studyId)).status) === SETTLED);
    const fees = (await owner.market.balanceOf(deployment.treasury)) as bigint;
    expect(fees).toBeGreaterThan(0n);
    const payeeBefore = (await owner.token.balanceOf(w(DEV_ROLES.deployer).address)) as bigint;
    await run('docs/api/treasury-owner.md');
    expect((await owner.token.balanceOf(w(DEV_ROLES.deployer).address)) - payeeBefore).toBe(fees / 2n);
    expect(await owner.market.balanceOf(deployment.treasury)).toBe(fees - fees / 2n);
  });

  it('verifier: a radiologist applies → the verifier approves on chain → the credential is active', async () => {
    await run('docs/api/verifier.md');
  });
});
