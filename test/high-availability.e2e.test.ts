import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HDNodeWallet, Interface, TypedDataEncoder, type TransactionResponse } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORWARD_REQUEST_TYPES, JsonRpcClient, loadArtifact } from '#chain';
import { createTestDatabase } from '#db/testing';
import { DEV_ROLES, contractsEnv, devKey, freePort } from '#devchain';
import { GqlClient } from './support/client.js';
import { type StackLike, ctRadiologist, fundRo, postCtStudy } from './support/funding.js';
import { type Chain, USD, cleanSnapshot, divergences, snapshot, startChain } from './support/indexing.js';
import { STUDY_ID_ISSUER, devWallet, issuedFor, waitFor } from './support/stack.js';

const ROOT = join(import.meta.dirname, '..');
/** the issue's bound: a standby takes over within 10 s of the active one's death */
const TAKE_OVER_MS = 10_000;
const RADIOLOGISTS = 4;
const STUDIES_EACH = 5;
/** per account and operation (shared through Postgres): the last test spends one bucket through both APIs */
const ACCOUNT_BURST = 100;
const ACCOUNT_PER_SECOND = 0.2;
/** tokens an account bucket regained since `t0` (at most one more than the elapsed time earns) */
const refilled = (t0: number) => Math.ceil(((Date.now() - t0) / 1000) * ACCOUNT_PER_SECOND) + 1;
const GASLESS = `request { from to value gas nonce deadline data } domain { name version chainId verifyingContract }`;
const RELAY = `mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash blockNumber function } }`;
/** answers that mean "not yet": the same signed request is sent again (idempotent by its hash) */
const RETRY = new Set(['CHAIN_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'BUS_UNAVAILABLE', 'RATE_LIMITED']);

interface App {
  name: string;
  port: number;
  child: ChildProcess;
  output: string[];
}

interface Signed {
  hash: string;
  signer: string;
  kind: 'claim' | 'report';
  studyId: string;
  /** what the client finally learned */
  outcome?: { status: 'MINED'; txHash: string } | { status: 'FAILED'; code: string };
}

interface Radiologist {
  wallet: HDNodeWallet;
  /** the same session on API 1 and API 2 */
  clients: [GqlClient, GqlClient];
  studies: string[];
}

/**
 * Two of each app as separate processes (the compiled apps in dist/, as `npm start` and production run them: `npm
 * run build` first) on one Postgres database, one anvil (a block a second, so transactions are in flight) and one
 * NATS server of this test. Under a steady load of gasless claims and reports sent through both APIs, the active
 * indexer (the writer lock's holder) and the active sender (the relayer key's lock holder) are SIGKILLed together:
 * the standbys take over within 10 s, every signed request ends mined exactly once (outbox rows against the relayer's
 * transactions on chain and the forwarder's executions), the index has every event once, and both APIs serve
 * sessions and share rate limits throughout.
 */
describe('two of each app: killing the active indexer and the active sender', () => {
  let chain: Chain;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pgc: pg.Client;
  let nats: ChildProcess | undefined;
  const natsDir = mkdtempSync(join(tmpdir(), 'openread-ha-nats-'));
  const apps: App[] = [];
  let stack: StackLike;
  const relayer = devKey(DEV_ROLES.relayer).address.toLowerCase();
  const rads: Radiologist[] = [];
  const requests: Signed[] = [];
  let loadStartBlock = 0;
  let env: NodeJS.ProcessEnv = {};

  const byName = (name: string) => apps.filter((a) => a.name === name);
  const apiUrl = (i: number) => `http://127.0.0.1:${byName('api')[i].port}`;
  const get = async (url: string) => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      return { status: res.status, text: await res.text() };
    } catch {
      return null;
    }
  };
  /** an indexer's role from its /health body ('writer', 'standby'; null when it does not answer) */
  const indexerRole = async (a: App): Promise<string | null> => {
    const r = await get(`http://127.0.0.1:${a.port}/health`);
    return r ? (JSON.parse(r.text) as { role: string }).role : null;
  };
  /** whether a worker sends for the relayer key (its /metrics: openread_settler_sender_active) */
  const sending = async (a: App): Promise<boolean> => {
    const r = await get(`http://127.0.0.1:${a.port}/metrics`);
    return !!r && new RegExp(`^openread_settler_sender_active\\{sender="${relayer}"\\} 1$`, 'm').test(r.text);
  };
  const alive = (a: App) => a.child.exitCode === null && a.child.signalCode === null;

  function start(name: 'api' | 'indexer' | 'settler', port: number, env: NodeJS.ProcessEnv): App {
    const own: NodeJS.ProcessEnv =
      name === 'api'
        ? { API_PORT: String(port) }
        : name === 'indexer'
          ? { INDEXER_HEALTH_PORT: String(port) }
          : { SETTLER_HEALTH_PORT: String(port) };
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
      cwd: ROOT,
      env: { ...env, ...own },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const app: App = { name, port, child, output: [] };
    const keep = (d: Buffer) => {
      app.output.push(d.toString());
      if (app.output.length > 400) app.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    apps.push(app);
    return app;
  }

  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'apps', 'api', 'src', 'main.js'))) throw new Error('dist/ is missing: run npm run build');
    chain = await startChain();
    db = await createTestDatabase();
    pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    const natsPort = await freePort();
    nats = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', natsDir], { stdio: 'ignore' });
    await waitFor('nats-server', () => listening(natsPort), 10_000);

    const { deployment } = chain;
    env = {
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      RPC_URL: chain.anvil.rpcUrl,
      ...contractsEnv(deployment),
      SETTLER_PRIVATE_KEY: devKey(DEV_ROLES.settler).privateKey,
      RELAYER_PRIVATE_KEY: devKey(DEV_ROLES.relayer).privateKey,
      TREASURY_RELAYER_PRIVATE_KEY: devKey(DEV_ROLES.treasuryRelayer).privateKey,
      STUDY_ID_ISSUER_PRIVATE_KEY: devKey(STUDY_ID_ISSUER).privateKey,
      ADMIN_ADDRESSES: devKey(DEV_ROLES.deployer).address,
      SIWE_DOMAIN: 'openread.test',
      SIWE_URI: 'https://openread.test',
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      NATS_NAMESPACE: 'openread_ha',
      // this machine runs many suites at once: the product's 2 s deadline is checked by dependency-faults
      DEPENDENCY_TIMEOUT_MS: '10000',
      INDEXER_POLL_MS: '200',
      RELAY_POLL_MS: '200',
      SETTLER_POLL_MS: '500',
      // one client address (127.0.0.1) for every test client: only the per-account buckets are what this checks
      RATE_LIMIT_CLIENT_KEY: 'ha-test-shared-client-address-key-0123456789',
      RATE_LIMIT_BURST: String(ACCOUNT_BURST),
      RATE_LIMIT_PER_SECOND: String(ACCOUNT_PER_SECOND),
      PUBLIC_RATE_LIMIT_BURST: '100000',
      PUBLIC_RATE_LIMIT_PER_SECOND: '1000',
      API_NEW_ACCOUNT_SIGN_INS_PER_HOUR: '100000',
      API_ADDRESS_IN_FLIGHT: '10000',
      API_ADDRESS_BURST: '100000',
      API_ADDRESS_PER_SECOND: '10000',
      API_TOKEN_IN_FLIGHT: '10000',
      API_TOKEN_BURST: '100000',
      API_TOKEN_PER_SECOND: '10000',
    };
    // workers first (they consume the bus), then the indexers, then the APIs, each pair on its own ports
    for (const name of ['settler', 'indexer', 'api'] as const)
      for (let i = 0; i < 2; i++) start(name, await freePort(), { ...env, SETTLER_BUS_PORT: String(await freePort()) });
    await waitFor(
      'every app up: both APIs, a writer and a standby indexer, one sender',
      async () => {
        for (const a of apps) if (!alive(a)) throw new Error(`${a.name} on ${a.port} exited:\n${a.output.join('')}`);
        const apis = await Promise.all(byName('api').map((a) => get(`http://127.0.0.1:${a.port}/ready`)));
        const roles = (await Promise.all(byName('indexer').map(indexerRole))).sort();
        const senders = await Promise.all(byName('settler').map(sending));
        return (
          apis.every((r) => r?.status === 200) && JSON.stringify(roles) === '["standby","writer"]' && senders.filter(Boolean).length === 1
        );
      },
      90_000,
    );

    stack = {
      owner: chain.owner,
      provider: chain.provider,
      deployment,
      issued: (ro, studyId, until) => issuedFor(deployment, ro, studyId, until),
      api: apiUrl(0),
    };
    await fundRo(stack, devWallet(DEV_ROLES.roDepositor, chain.provider), 10_000n * USD);
    for (let i = 0; i < RADIOLOGISTS; i++) {
      const { wallet, client } = await ctRadiologist(stack); // signed in on API 1
      const other = new GqlClient(apiUrl(1));
      other.token = client.token;
      const studies: string[] = [];
      for (let j = 0; j < STUDIES_EACH; j++) studies.push(await postCtStudy(stack));
      rads.push({ wallet, clients: [client, other], studies });
    }
  }, 240_000);

  afterAll(async () => {
    await Promise.all(
      apps.map(
        (a) =>
          new Promise<void>((resolve) => {
            if (!alive(a)) return resolve();
            const kill = setTimeout(() => a.child.kill('SIGKILL'), 10_000);
            a.child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            a.child.kill('SIGTERM');
          }),
      ),
    );
    if (nats && nats.exitCode === null) {
      const gone = new Promise((r) => nats!.once('exit', r));
      nats.kill('SIGTERM');
      await gone;
    }
    rmSync(natsDir, { recursive: true, force: true });
    await pgc?.end();
    await chain?.stop();
    await db?.drop();
  }, 60_000);

  /** Prepares, signs and relays one gasless request, resending the same signed request until its outcome is final. */
  async function gasless(rad: Radiologist, turn: number, kind: Signed['kind'], studyId: string): Promise<void> {
    const mutation =
      kind === 'claim'
        ? `mutation($id: ID!) { prepared: prepareGaslessClaim(studyId: $id) { ${GASLESS} } }`
        : `mutation($id: ID!, $h: String!) { prepared: prepareGaslessReport(studyId: $id, reportHash: $h) { ${GASLESS} } }`;
    const vars = kind === 'claim' ? { id: studyId } : { id: studyId, h: `0x${studyId.slice(2, 10).padEnd(64, '7')}` };
    // a report is prepared once the claim is indexed (the indexer may be changing hands meanwhile)
    let last: unknown;
    const prepared = await waitFor(
      `${kind} of ${studyId} prepared`,
      async () => {
        const r = await rad.clients[turn % 2]
          .send(mutation, vars)
          .catch((e: Error) => ({ errors: [{ message: e.message }], data: undefined }));
        last = r.errors;
        if (r.errors) await new Promise((res) => setTimeout(res, 300));
        return r.data?.prepared;
      },
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}`);
    });
    const signature = await rad.wallet.signTypedData(prepared.domain, FORWARD_REQUEST_TYPES, prepared.request);
    const signed: Signed = {
      hash: TypedDataEncoder.hash(prepared.domain, FORWARD_REQUEST_TYPES, prepared.request).toLowerCase(),
      signer: rad.wallet.address.toLowerCase(),
      kind,
      studyId,
    };
    requests.push(signed);
    for (let attempt = 0; ; attempt++) {
      const r = await rad.clients[(turn + attempt) % 2].send(RELAY, { r: prepared.request, s: signature }).catch(() => null);
      if (r?.data?.relayGasless) return void (signed.outcome = { status: 'MINED', txHash: r.data.relayGasless.txHash });
      const code = String(r?.errors?.[0]?.extensions?.code ?? 'NO_ANSWER');
      if (r && !RETRY.has(code)) return void (signed.outcome = { status: 'FAILED', code });
      if (attempt > 200) throw new Error(`request ${signed.hash} still ${code} after ${attempt} attempts`);
      await new Promise((res) => setTimeout(res, 300));
    }
  }

  /**
   * Every signed request: one outbox row, mined, and what its client learned is that transaction; the relayer's
   * transactions on chain since the load began are exactly the rows' (each nonce once, none reverted, nothing else),
   * and the forwarder executed each signed request once.
   */
  async function expectEveryRequestOnce(): Promise<void> {
    // every signed request: one outbox row, mined, and what the client learned is that transaction
    const { rows } = await pgc.query(
      `SELECT request_hash, signer, signer_nonce, status, error_code, relayer, relayer_nonce, tx_hash, cost_wei FROM relay_requests
       WHERE purpose = 'gasless' ORDER BY id`,
    );
    expect(rows.length).toBe(requests.length);
    const byHash = new Map(rows.map((r) => [r.request_hash as string, r]));
    for (const s of requests) {
      const row = byHash.get(s.hash);
      expect(row, `the outbox row of ${s.kind} ${s.studyId}`).toBeDefined();
      expect({ status: row.status, error: row.error_code }).toEqual({ status: 'MINED', error: null });
      expect(s.outcome).toEqual({ status: 'MINED', txHash: row.tx_hash });
      // sent by the relayer (not "executed elsewhere", which would mean a second copy was attempted)
      expect(row.relayer).toBe(relayer);
      expect(BigInt(row.cost_wei)).toBeGreaterThan(0n);
    }
    expect(new Set(rows.map((r) => r.relayer_nonce)).size).toBe(rows.length);

    // the relayer's transactions on chain: exactly the rows' transactions, each nonce once, none reverted, nothing else
    const head = await chain.head();
    const sent: TransactionResponse[] = [];
    for (let b = loadStartBlock + 1; b <= head; b++) {
      const block = await chain.provider.getBlock(b, true);
      for (const tx of block!.prefetchedTransactions) if (tx.from.toLowerCase() === relayer) sent.push(tx);
    }
    expect(sent.map((t) => t.hash).sort()).toEqual(rows.map((r) => r.tx_hash).sort());
    for (const tx of sent) {
      const row = rows.find((r) => r.tx_hash === tx.hash)!;
      expect(Number(row.relayer_nonce)).toBe(tx.nonce);
      expect((await chain.provider.getTransactionReceipt(tx.hash))!.status).toBe(1);
    }
    // and the forwarder executed each signed request once
    const forwarder = new Interface(loadArtifact('OpenReadForwarder').abi);
    const executed = (await new JsonRpcClient(chain.anvil.rpcUrl).logs([chain.deployment.forwarder], loadStartBlock, head))
      .map((l) => forwarder.parseLog({ topics: l.topics, data: l.data })!)
      .filter((e) => e.name === 'ExecutedForwardRequest');
    const executions = executed.map((e) => `${String(e.args.signer).toLowerCase()}:${e.args.nonce}`);
    expect(executions.sort()).toEqual(rows.map((r) => `${r.signer}:${r.signer_nonce}`).sort());
    for (const e of executed) expect(e.args.success).toBe(true);
    // on chain: each study claimed and reported by its radiologist
    for (const rad of rads)
      for (const studyId of rad.studies) expect((await chain.owner.market.getStudy(studyId)).radiologist).toBe(rad.wallet.address);
  }

  it('the standbys take over within 10 s; every signed request is mined exactly once; the index has every event once', async () => {
    // transactions stay in flight for up to a block, as on a real chain
    loadStartBlock = await chain.head();
    await chain.rpc('evm_setAutomine', [false]);
    await chain.rpc('evm_setIntervalMining', [1]);
    let turn = 0;
    const load = Promise.all(
      rads.map(async (rad) => {
        for (const studyId of rad.studies) {
          await gasless(rad, turn++, 'claim', studyId);
          await gasless(rad, turn++, 'report', studyId);
        }
      }),
    );
    load.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile

    // once the load is under way and the sender has something in flight: kill the active indexer and sender at once
    await waitFor(
      'some requests mined and one in flight',
      async () => {
        const { rows } = await pgc.query(
          `SELECT count(*) FILTER (WHERE status = 'MINED')::int AS mined, count(*) FILTER (WHERE status = 'SENT')::int AS sent FROM relay_requests`,
        );
        return rows[0].mined >= 6 && rows[0].sent >= 1;
      },
      120_000,
    );
    const indexers = byName('indexer');
    const workers = byName('settler');
    const writer = (await indexerRole(indexers[0])) === 'writer' ? indexers[0] : indexers[1];
    const standbyIndexer = indexers.find((a) => a !== writer)!;
    expect(await indexerRole(standbyIndexer)).toBe('standby');
    const sender = (await sending(workers[0])) ? workers[0] : workers[1];
    const standbyWorker = workers.find((a) => a !== sender)!;
    expect(await sending(standbyWorker)).toBe(false);
    const { rows: before } = await pgc.query(`SELECT status, count(*)::int AS n FROM relay_requests GROUP BY status ORDER BY status`);
    const killedAt = Date.now();
    writer.child.kill('SIGKILL');
    sender.child.kill('SIGKILL');
    apps.splice(apps.indexOf(writer), 1);
    apps.splice(apps.indexOf(sender), 1);

    // take-over: the deadline of each wait is the issue's bound
    let indexerTookOver = 0;
    let senderTookOver = 0;
    await Promise.all([
      waitFor('the standby indexer to become the writer', async () => (await indexerRole(standbyIndexer)) === 'writer', TAKE_OVER_MS).then(
        () => (indexerTookOver = Date.now() - killedAt),
      ),
      waitFor('the standby worker to hold the sending lock', () => sending(standbyWorker), TAKE_OVER_MS).then(
        () => (senderTookOver = Date.now() - killedAt),
      ),
    ]);
    console.log(
      `killed the writer indexer and the sender with outbox ${JSON.stringify(before)}: the standby indexer wrote after ${indexerTookOver} ms, ` +
        `the standby worker sent after ${senderTookOver} ms`,
    );
    // the new writer indexes on: past the block the chain was at when it took over
    const headAtTakeOver = await chain.head();
    await waitFor(
      'the new writer to index past the take-over',
      async () => {
        const { rows } = await pgc.query(`SELECT max(block_number)::int AS n FROM indexer_checkpoints`);
        return rows[0].n > headAtTakeOver;
      },
      30_000,
    );

    await load;
    await chain.rpc('evm_setIntervalMining', [0]);
    await chain.rpc('evm_setAutomine', [true]);

    expect(requests.length).toBe(RADIOLOGISTS * STUDIES_EACH * 2);
    await expectEveryRequestOnce();

    // the index: every event once, the same rows as a clean index of the chain (nothing projected twice or lost)
    const end = await chain.head();
    await waitFor(
      'the index at the head',
      async () => {
        const { rows } = await pgc.query(`SELECT max(block_number)::int AS n FROM indexer_checkpoints`);
        return rows[0].n >= end;
      },
      60_000,
    );
    expect(divergences(await snapshot(db.url), await cleanSnapshot(chain))).toEqual([]);
    // the processes that were not killed are still running; the killed ones are gone
    expect(
      apps
        .filter(alive)
        .map((a) => a.name)
        .sort(),
    ).toEqual(['api', 'api', 'indexer', 'settler']);
  }, 300_000);

  /** The Postgres backend holding a lock of this database: the relayer key's sending lock, or the indexer's writer lock. */
  async function lockHolders(lock: 'sender' | 'writer'): Promise<number[]> {
    const key =
      lock === 'sender'
        ? `l.objsubid = 1 AND l.classid = ((k >> 32) & 4294967295)::oid AND l.objid = (k & 4294967295)::oid`
        : `l.objsubid = 2 AND l.classid = ${0x4f52_4958}::oid`; // pg_try_advisory_lock(int, int): the indexer's namespace
    const { rows } = await pgc.query(
      `SELECT l.pid FROM pg_locks l, (SELECT hashtext('openread-relayer:' || $1)::bigint AS k) x
       WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND ${key}`,
      [devKey(DEV_ROLES.relayer).address],
    );
    return rows.map((r) => r.pid as number);
  }

  it('restarted apps wait as standbys; a holder whose lock connection is cut steps down: one writer, one sender', async () => {
    // what a supervisor does after the kills: start them again (new ports: the old ones may linger in TIME_WAIT)
    const indexer = start('indexer', await freePort(), env);
    const worker = start('settler', await freePort(), { ...env, SETTLER_BUS_PORT: String(await freePort()) });
    await waitFor('the restarted indexer in standby', async () => (await indexerRole(indexer)) === 'standby', 60_000);
    await waitFor(
      'the restarted worker up, not sending',
      async () => (await get(`http://127.0.0.1:${worker.port}/metrics`))?.status === 200,
      60_000,
    );
    expect(await sending(worker)).toBe(false);

    // the active holders' lock connections cut (Postgres restarted, a proxy or firewall dropping them): the lock is
    // taken again, by whichever process is first, and exactly one process believes it holds each lock
    for (const lock of ['sender', 'writer'] as const) {
      const [holder] = await lockHolders(lock);
      expect(holder).toBeDefined();
      await pgc.query(`SELECT pg_terminate_backend($1)`, [holder]);
      await waitFor(
        `the ${lock} lock held again, by one process only`,
        async () => {
          const holders = await lockHolders(lock);
          if (holders.length !== 1 || holders[0] === holder) return false;
          if (lock === 'sender') return (await Promise.all(byName('settler').map(sending))).filter(Boolean).length === 1;
          return JSON.stringify((await Promise.all(byName('indexer').map(indexerRole))).sort()) === '["standby","writer"]';
        },
        TAKE_OVER_MS,
      );
    }

    // and the requests go on: one more claim each, through both APIs
    const fresh: string[] = [];
    for (const rad of rads) rad.studies.push((fresh[fresh.length] = await postCtStudy(stack)));
    let turn = 0;
    await Promise.all(rads.map((rad, i) => gasless(rad, turn++, 'claim', fresh[i])));
    await expectEveryRequestOnce();
  }, 180_000);

  it('both APIs serve one session, and share its rate limits through Postgres', async () => {
    const rad = rads[0];
    const QUERY = `{ myClaims { id } }`;
    // signed in on API 1, served by API 2 (and the other way round)
    expect((await rad.clients[1].send(QUERY)).errors).toBeUndefined();
    expect((await rad.clients[0].send(QUERY)).errors).toBeUndefined();
    // one bucket per account and operation, whichever API answers: requests spread over both run out after the
    // burst (plus what refilled meanwhile); each API on its own would allow a burst each
    const t0 = Date.now();
    let ok = 2;
    let limited = 0;
    while (!limited) {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => rad.clients[i % 2].send(QUERY)));
      for (const r of answers) {
        if (!r.errors) ok++;
        else if (r.errors[0].extensions?.code === 'RATE_LIMITED') limited++;
        else throw new Error(`unexpected answer: ${JSON.stringify(r.errors)}`);
      }
      if (ok > 2 * ACCOUNT_BURST + refilled(t0)) throw new Error(`no limit after ${ok} requests: the APIs do not share the bucket`);
    }
    expect(ok).toBeGreaterThanOrEqual(ACCOUNT_BURST);
    expect(ok).toBeLessThanOrEqual(ACCOUNT_BURST + refilled(t0));
  });
});
