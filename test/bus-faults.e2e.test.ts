import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#db/testing';
import { DEV_ROLES, contractsEnv, devKey, freePort } from '#devchain';
import {
  AppName,
  AppProcess,
  lastWords,
  linesBetween,
  projectedOutageLines,
  readinessOf,
  spawnApp,
  stopApps,
} from './support/app-processes.js';
import { Activity, Chain, startChain } from './support/indexing.js';
import { OwnNats } from './support/nats-server.js';

/** the promises: readiness false within 5 s of a fault, everything back within 10 s of the end */
const NOT_READY_WITHIN_MS = 5_000;
const RECOVERED_WITHIN_MS = 10_000;
/** a request's bound (the product's deadline is 2 s; generous for a loaded CI machine) */
const ANSWER_BOUND_MS = 5_000;
/** RepeatLog's interval in this test (the product's is 10 s): the outage's log lines are counted per interval */
const REPEAT_INTERVAL_MS = 1_000;
const NAMESPACE = 'openread_faults';

/**
 * The bus (NATS JetStream) failing under the compiled apps, each in its own process as in production (`NATS_URL` set,
 * as an operator runs it; `npm start` without it uses Nest's TCP transport to the worker instead). The NATS server is
 * this test's own (a free port, its own store directory; the machine's NATS is never touched): paused with SIGSTOP (a
 * hung server, a partition), then killed and started again on the same store. The bus carries the indexer's events to
 * the worker; no GraphQL operation needs it (the API writes Postgres only), so the API keeps answering and stays ready.
 */
describe('bus faults: readiness, recovery, no lost or duplicated message, bounded logs', () => {
  let chain: Chain;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let nats: OwnNats;
  let client: pg.Client;
  const apps: AppProcess[] = [];
  const ports: Record<AppName, number> = { api: 0, indexer: 0, settler: 0 };
  const activity = () => new Activity(chain, ++seed);
  let seed = 0;

  const urls = () => ({
    api: `http://127.0.0.1:${ports.api}/ready`,
    indexer: `http://127.0.0.1:${ports.indexer}/ready`,
    settler: `http://127.0.0.1:${ports.settler}/ready`,
  });
  const readiness = readinessOf(urls, ANSWER_BOUND_MS);
  const allReady = (r: Record<AppName, number>) => Object.values(r).every((s) => s === 200);
  /** the apps that need the bus are not ready; the API, which does not, is */
  const busDown = (r: Record<AppName, number>) => r.indexer === 503 && r.settler === 503 && r.api === 200;

  const count = async (q: string) => (await client.query(q)).rows[0].n as number;
  /** events indexed, events not yet acknowledged by the bus (outbox + past the cursor), messages the worker handled */
  const counts = async () => ({
    events: await count(`SELECT count(*)::int AS n FROM chain_events`),
    pending: await count(
      `SELECT ((SELECT count(*) FROM outbox) + (SELECT count(*) FROM chain_events WHERE id > coalesce((SELECT max(last_event_id) FROM bus_cursor), 0)))::int AS n`,
    ),
    inbox: await count(`SELECT count(*)::int AS n FROM bus_inbox WHERE consumer = 'settler'`),
  });
  const waitFor = async (what: string, ok: () => Promise<boolean>, ms: number) => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms (${JSON.stringify(await counts())})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return Date.now();
  };
  const delivered = async () => {
    const n = await counts();
    return n.events > 0 && n.pending === 0 && n.inbox === n.events;
  };
  /** what the stream holds and what the worker's durable consumer still owes */
  const jetstreamState = async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = await jsm.streams.info(NAMESPACE.toUpperCase());
      const consumer = await jsm.consumers.info(NAMESPACE.toUpperCase(), 'settler');
      return { messages: stream.state.messages, pending: consumer.num_pending, unacked: consumer.num_ack_pending };
    } finally {
      await nc.close();
    }
  };
  const apiAnswers = async () => {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${ports.api}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ indexerStatus { indexedBlock } }' }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { errors?: unknown[] };
    return { status: res.status, errors: body.errors, ms: Date.now() - started };
  };
  /** each app's /ready body: which check failed */
  const readyBody = async (app: AppName) => (await fetch(urls()[app])).json() as Promise<Record<string, unknown>>;
  const json = (app: AppName) => apps.find((a) => a.name === app)!.lines.map((l) => JSON.parse(l.text) as Record<string, unknown>);

  beforeAll(async () => {
    chain = await startChain();
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    nats = await OwnNats.start();
    [ports.api, ports.indexer, ports.settler] = await Promise.all([freePort(), freePort(), freePort()]);
    const d = chain.deployment;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      LOG_FORMAT: 'json', // JSON lines, as in production; production mode itself refuses this test's local chain and dev keys
      DATABASE_URL: db.url,
      RPC_URL: chain.anvil.rpcUrl,
      ...contractsEnv(d),
      SETTLER_PRIVATE_KEY: devKey(DEV_ROLES.settler).privateKey,
      NATS_URL: nats.url,
      NATS_NAMESPACE: NAMESPACE,
      BUS_ACK_TIMEOUT_MS: '2000',
      LOG_REPEAT_INTERVAL_MS: String(REPEAT_INTERVAL_MS),
      API_PORT: String(ports.api),
      SIWE_DOMAIN: 'openread.test',
      SIWE_URI: 'https://openread.test',
      INDEXER_HEALTH_PORT: String(ports.indexer),
      INDEXER_POLL_MS: '200',
      INDEXER_CONFIRMATIONS: '0',
      SETTLER_HEALTH_PORT: String(ports.settler),
      SETTLER_POLL_MS: '500',
    };
    // the worker first: it creates its durable consumer, which the indexer's stream then feeds
    for (const name of ['settler', 'indexer', 'api'] as const) apps.push(spawnApp(name, env));
    await readiness.until('start', allReady, 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${lastWords(apps)}`);
    });
    await activity().run(5);
    await waitFor('first events delivered', delivered, 30_000);
  }, 120_000);

  afterAll(async () => {
    nats?.resume();
    await stopApps(apps);
    await client?.end();
    await nats?.stop();
    await chain?.stop();
    await db?.drop();
  }, 30_000);

  /** after a fault: ready again, every event delivered once, the stream holding each once, the consumer owing nothing */
  async function expectRecovery(endedAt: number) {
    const readyAgain = await readiness.until('bus back', allReady, 30_000);
    expect(readyAgain - endedAt).toBeLessThan(RECOVERED_WITHIN_MS);
    const caughtUp = await waitFor('delivered after the fault', delivered, 30_000);
    expect(caughtUp - endedAt).toBeLessThan(RECOVERED_WITHIN_MS);
    const n = await counts();
    // no message lost (the worker handled each event) and none stored twice (the stream deduplicates republishes by ID)
    expect(n.inbox).toBe(n.events);
    // the worker acknowledges a message just after its inbox row, so the last ack may still be on its way; and an ack
    // the crashed server never stored leaves that message pending until the consumer's ack wait (30 s) redelivers it:
    // at-least-once, so the worker gets it again, and its inbox makes the second delivery a no-op
    let state = await jetstreamState();
    for (const end = Date.now() + 45_000; state.unacked && Date.now() < end; await new Promise((r) => setTimeout(r, 250)))
      state = await jetstreamState();
    expect(state).toEqual({ messages: n.events, pending: 0, unacked: 0 });
    expect(await counts()).toEqual({ ...n, inbox: n.events });
  }

  /** the fault's lines: JSON, no stack trace, and fewer than 100 for 60 s at the product's 10 s interval */
  function expectBoundedLogs(from: number, to: number) {
    const lines = linesBetween(apps, from, to);
    for (const l of lines) expect(() => JSON.parse(l.slice(l.indexOf(': ') + 2)), l).not.toThrow();
    expect(lines.filter((l) => /"stack"|ExceptionsHandler/.test(l))).toEqual([]);
    const timed = apps.flatMap((a) => a.lines);
    const p = projectedOutageLines(timed, from, to, REPEAT_INTERVAL_MS, 60);
    expect(p.windows.length, 'the outage spans several intervals').toBeGreaterThan(2);
    expect(p.projected, `${JSON.stringify(p)}\n${lines.join('\n')}`).toBeLessThan(100);
  }

  it('NATS hung (SIGSTOP): the indexer and the worker not ready within 5 s, the API unaffected, events wait, all back within 10 s', async () => {
    const before = await counts();
    const pausedAt = Date.now();
    nats.pause();
    let resumedAt = 0;
    try {
      const notReady = await readiness.until('NATS paused', busDown, 15_000);
      expect(notReady - pausedAt).toBeLessThan(NOT_READY_WITHIN_MS);
      // the reason each gives is the bus
      expect(((await readyBody('settler')).checks as Record<string, { ok: boolean }>).bus.ok).toBe(false);
      expect(((await readyBody('indexer')).dependencies as Record<string, { ok: boolean }>).bus.ok).toBe(false);

      // the API needs no bus: it answers in time and stays ready
      const answer = await apiAnswers();
      expect(answer).toMatchObject({ status: 200, errors: undefined });
      expect(answer.ms).toBeLessThan(ANSWER_BOUND_MS);

      // indexing goes on; the new events wait in the outbox
      await activity().run(5);
      await waitFor('indexed while the bus is down', async () => (await counts()).events > before.events, 30_000);
      const during = await counts();
      expect(during.pending).toBeGreaterThan(0);
      expect(during.inbox).toBe(before.inbox);
      // several RepeatLog intervals of outage, so the per-interval count below has something to measure
      await readiness.until('outage of several intervals', (r) => busDown(r) && Date.now() - pausedAt > 5 * REPEAT_INTERVAL_MS, 30_000);
    } finally {
      nats.resume();
      resumedAt = Date.now();
    }
    expectBoundedLogs(pausedAt, resumedAt);
    await expectRecovery(resumedAt);

    // one pass of the indexer's relay can be followed across its lines: the warning and the recovery carry its pass id
    const relay = json('indexer').filter((l) => /bus \(nats-jetstream\) (unavailable|reachable again)/.test(String(l.msg)));
    expect(relay.length).toBeGreaterThanOrEqual(2);
    for (const l of relay) expect(l.reqId).toMatch(/^relay-[0-9a-f]{8}$/);
    // and the indexer's first pass (it took the writer lock) carries a pass id, while its start-up lines carry none
    expect(json('indexer').find((l) => /holding the writer lock/.test(String(l.msg)))?.reqId).toMatch(/^index-[0-9a-f]{8}$/);
    expect(json('indexer').find((l) => /^health on /.test(String(l.msg)))).not.toHaveProperty('reqId');
  }, 120_000);

  it('NATS killed while events flow, then started again on its store: not ready within 5 s, events wait, all back within 10 s of the restart', async () => {
    const before0 = await counts();
    // kill while events flow: some published and acknowledged just before the crash
    const flowing = activity().run(8);
    await waitFor('flowing', async () => (await counts()).inbox > before0.inbox, 30_000);
    const before = await counts();
    const killedAt = Date.now();
    await nats.kill();
    await flowing;
    const notReady = await readiness.until('NATS killed', busDown, 15_000);
    expect(notReady - killedAt).toBeLessThan(NOT_READY_WITHIN_MS);
    expect((await apiAnswers()).errors).toBeUndefined();

    await activity().run(5);
    await waitFor('indexed while the bus is down', async () => (await counts()).events > before.events, 30_000);
    expect((await counts()).pending).toBeGreaterThan(0);
    await readiness.until('outage of several intervals', (r) => busDown(r) && Date.now() - killedAt > 5 * REPEAT_INTERVAL_MS, 30_000);

    await nats.restart();
    const restartedAt = Date.now();
    expectBoundedLogs(killedAt, restartedAt);
    await expectRecovery(restartedAt);
  }, 180_000);
});
