import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractsEnv, generateBulkEvents } from '#devchain';
import { JsonRpcClient } from '#chain';
import { createTestDatabase } from '#db/testing';
import { seededRandom } from '#domain';
import { Chain, ROS, cleanSnapshot, divergences, snapshot, startChain, until } from './support/indexing.js';
import { STUDY_ID_ISSUER, devWallet } from './support/stack.js';

const ROOT = join(import.meta.dirname, '..');

describe('SIGKILL at random points during a large backfill', () => {
  let chain: Chain;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    chain = await startChain();
    db = await createTestDatabase();
    await generateBulkEvents({
      rpcUrl: chain.anvil.rpcUrl,
      market: chain.deployment.market,
      ros: ROS.map((i) => devWallet(i, chain.provider).address),
      studyIdIssuerKey: devWallet(STUDY_ID_ISSUER, chain.provider).privateKey,
      events: 6_000,
      perBlock: 20,
      seed: 1,
    });
  }, 180_000);
  afterAll(async () => {
    await db?.drop();
    await chain?.stop();
  });

  it('20 kills and restarts: zero duplicates, zero gaps, and the same tables as a clean index', async () => {
    const env = {
      ...process.env,
      DATABASE_URL: db.url,
      RPC_URL: chain.anvil.rpcUrl,
      ...contractsEnv(chain.deployment),
      INDEXER_BATCH_BLOCKS: '1',
      INDEXER_POLL_MS: '50',
      INDEXER_HEALTH_PORT: '0',
      SETTLER_BUS_PORT: '1', // no consumer: every event waits for the bus, which is checked too
      NATS_URL: '',
    };
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const indexed = async () => Number((await c.query(`SELECT max(block_number) AS n FROM indexer_checkpoints`)).rows[0].n ?? -1);
    const head = await chain.head();
    const rnd = seededRandom(20);
    const children: ChildProcess[] = [];
    const start = () => {
      const child = spawn(process.execPath, ['--import', './test/support/register-ts.mjs', 'apps/indexer/src/main.ts'], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      return child;
    };
    const t0 = Date.now();
    let kills = 0;
    try {
      for (; kills < 20; kills++) {
        const before = await indexed();
        const child: ChildProcess = start();
        let stderr = '';
        child.stderr!.on('data', (d) => (stderr += d));
        const exited = new Promise((r) => child.once('exit', r));
        // wait until this run has written, then kill it at a random moment
        await until(`run ${kills} to index`, async () => (await indexed()) > before || child.exitCode !== null, 60_000);
        expect(child.exitCode, stderr).toBeNull();
        await new Promise((r) => setTimeout(r, rnd.int(0, 250)));
        child.kill('SIGKILL');
        await exited;
        if ((await indexed()) >= head) break; // finished early: more kills would not hit a backfill
      }
      expect(kills, 'the backfill outlasted the kills').toBeGreaterThanOrEqual(20);
      // the last run finishes
      const child = start();
      const exited = new Promise((r) => child.once('exit', r));
      await until('the backfill to finish', async () => (await indexed()) >= head, 120_000);
      child.kill('SIGTERM');
      await exited;

      // zero gaps, zero duplicates: exactly the chain's decodable logs, each once, all waiting for the bus
      const logs = await new JsonRpcClient(chain.anvil.rpcUrl).logs(
        // every contract the indexer watches in this deployment (no governance here): contractsEnv gave it all
        [
          chain.deployment.market,
          chain.deployment.registry,
          chain.deployment.parameters,
          chain.deployment.roDirectory,
          chain.deployment.studyCustody,
        ],
        0,
        head,
      );
      const rows = (await c.query(`SELECT tx_hash, log_index FROM chain_events`)).rows;
      expect(rows.length).toBe(logs.length);
      expect(new Set(rows.map((r) => `${r.tx_hash}:${r.log_index}`))).toEqual(
        new Set(logs.map((l) => `${l.transactionHash}:${Number(l.logIndex)}`)),
      );
      const pending = (
        await c.query(
          `SELECT (SELECT count(*) FROM chain_events WHERE id > coalesce((SELECT max(last_event_id) FROM bus_cursor), 0))::int AS events,
                  (SELECT count(*) FROM outbox)::int AS notices`,
        )
      ).rows[0];
      expect(pending).toEqual({ events: logs.length, notices: 0 });
      expect(divergences(await snapshot(db.url), await cleanSnapshot(chain))).toEqual([]);
      console.log(
        `${kills} SIGKILLs over ${head - chain.deployment.deployBlock} blocks, ${logs.length} events, in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await c.end();
    }
  }, 400_000);
});
