import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RELAY_SPEND_WINDOW_HOURS } from '#config';
import { createDataSource } from './data-source.js';
import { createTestDatabase } from './testing/test-database.js';
import { AuthRepository } from './auth/auth.repository.js';
import { RateLimitRepository } from './rate-limits/rate-limit.repository.js';
import { NewRelayRequest, RelayOutboxRepository } from './relay/relay-outbox.repository.js';

const CHAIN = 31337;
const SPEC = { capacity: 10, refillPerSecond: 2 }; // full again after 5 s idle
const addr = (n: number) => '0x' + n.toString(16).padStart(40, '0');

describe('pruning on real Postgres: what must go goes, what must stay stays', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let buckets: RateLimitRepository;
  let auth: AuthRepository;
  let relays: RelayOutboxRepository;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    buckets = new RateLimitRepository(db);
    auth = new AuthRepository(db);
    relays = new RelayOutboxRepository(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await testDb?.drop();
  });

  describe('rate-limit buckets', () => {
    beforeEach(async () => {
      await db.query(`TRUNCATE rate_limit_buckets, rate_limit_client_buckets`);
    });
    /** a bucket last touched `idleSeconds` ago holding `tokens` */
    const age = (table: string, idleSeconds: number, tokens = 0) =>
      db.query(`UPDATE ${table} SET refilled_at = clock_timestamp() - make_interval(secs => $1), tokens = $2`, [idleSeconds, tokens]);

    it('deletes account buckets idle for at least burst / rate, keeps the others, in batches that go through all of them', async () => {
      for (let i = 0; i < 25; i++) await buckets.take(addr(i), 'Query.worklist', SPEC);
      await age('rate_limit_buckets', 6); // idle 6 s > 10 / 2: full again
      for (let i = 100; i < 103; i++) await buckets.take(addr(i), 'Query.worklist', SPEC); // just used: not full
      await db.query(
        `UPDATE rate_limit_buckets SET refilled_at = clock_timestamp() - interval '4 seconds', tokens = 0 WHERE account = $1`,
        [addr(100)],
      );
      expect(await buckets.pruneFull('account', SPEC, { batchSize: 10 })).toBe(25);
      const left = await db.query(`SELECT account FROM rate_limit_buckets ORDER BY account`);
      expect(left.map((r: { account: string }) => r.account)).toEqual([addr(100), addr(101), addr(102)]);
      // a bucket recreated after pruning starts full, as the deleted one would have been
      for (let i = 0; i < SPEC.capacity; i++) expect(await buckets.take(addr(0), 'Query.worklist', SPEC)).toBe(true);
      expect(await buckets.take(addr(0), 'Query.worklist', SPEC)).toBe(false);
    });

    it('uses the spec it is given: a slower refill keeps the same bucket longer', async () => {
      await buckets.take(addr(1), 'Mutation.claim', SPEC);
      await age('rate_limit_buckets', 6);
      expect(await buckets.pruneFull('account', { capacity: 10, refillPerSecond: 1 }, { batchSize: 100 })).toBe(0); // needs 10 s
      expect(await buckets.pruneFull('account', SPEC, { batchSize: 100 })).toBe(1);
    });

    it('deletes full client buckets (hashed addresses) and keeps those still refilling; never waits for or deletes a locked one', async () => {
      const keys = Array.from({ length: 12 }, () => randomBytes(32));
      for (const k of keys) await buckets.takeClient(k, 'Mutation.nonce', SPEC);
      await age('rate_limit_client_buckets', 60);
      const fresh = randomBytes(32);
      await buckets.takeClient(fresh, 'Mutation.nonce', SPEC);
      // another transaction is taking from keys[0] right now: its row is locked
      const other = new pg.Client({ connectionString: testDb.url });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT 1 FROM rate_limit_client_buckets WHERE client = $1 FOR UPDATE`, [keys[0]]);
        const t0 = Date.now();
        expect(await buckets.pruneFull('client', SPEC, { batchSize: 5 })).toBe(11);
        expect(Date.now() - t0).toBeLessThan(5_000);
        await other.query('ROLLBACK');
      } finally {
        await other.end();
      }
      const left = await db.query(`SELECT client FROM rate_limit_client_buckets`);
      expect(left.map((r: { client: Buffer }) => r.client.toString('hex')).sort()).toEqual(
        [keys[0], fresh].map((k) => k.toString('hex')).sort(),
      );
      // the next pass takes the one that was locked
      expect(await buckets.pruneFull('client', SPEC, { batchSize: 5 })).toBe(1);
    });

    it('account and client buckets are pruned separately, each by its own spec', async () => {
      await buckets.take(addr(7), 'Query.worklist', SPEC);
      await buckets.takeClient(randomBytes(32), 'Query.indexerStatus', SPEC);
      await age('rate_limit_buckets', 60);
      await age('rate_limit_client_buckets', 60);
      expect(await buckets.pruneFull('client', SPEC, { batchSize: 10 })).toBe(1);
      expect(await db.query(`SELECT count(*)::int AS n FROM rate_limit_buckets`)).toEqual([{ n: 1 }]);
      expect(await buckets.pruneFull('account', SPEC, { batchSize: 10 })).toBe(1);
    });
  });

  describe('sign-in nonces and sessions', () => {
    beforeEach(async () => {
      await db.query(`TRUNCATE auth_nonces, sessions`);
    });

    it('deletes expired nonces, used or not, and keeps live ones (which still sign in exactly once)', async () => {
      for (let i = 0; i < 7; i++) await auth.createNonce(`old-${i}`, 60);
      await auth.consumeNonce('old-0');
      await db.query(`UPDATE auth_nonces SET expires_at = now() - interval '1 second'`);
      await auth.createNonce('live', 600);
      await auth.createNonce('live-used', 600);
      expect(await auth.consumeNonce('live-used')).toBe(true);
      expect(await auth.pruneNonces({ batchSize: 3 })).toBe(7);
      const left = await db.query(`SELECT nonce FROM auth_nonces ORDER BY nonce`);
      expect(left.map((r: { nonce: string }) => r.nonce)).toEqual(['live', 'live-used']);
      expect(await auth.consumeNonce('live')).toBe(true);
      expect(await auth.consumeNonce('live')).toBe(false);
      expect(await auth.consumeNonce('live-used')).toBe(false);
      expect(await auth.consumeNonce('old-1')).toBe(false);
    });

    it('deletes expired sessions and keeps live ones', async () => {
      const soon = new Date(Date.now() + 3_600_000);
      await auth.createSession('expired-1', addr(1), CHAIN, new Date(Date.now() - 1000));
      await auth.createSession('expired-2', addr(2), CHAIN, new Date(Date.now() - 86_400_000));
      await auth.createSession('live', addr(3), CHAIN, soon);
      expect(await auth.pruneSessions({ batchSize: 1 })).toBe(2);
      expect(await auth.findSession('live')).toEqual({ address: addr(3), chainId: CHAIN, expiresAt: soon });
      expect(await db.query(`SELECT token_hash FROM sessions`)).toEqual([{ token_hash: 'live' }]);
    });
  });

  describe('relay outbox', () => {
    let nonce = 0n;
    const request = (signer: string, reservedWei = 1000n, chainId = CHAIN): NewRelayRequest => ({
      chainId,
      forwarder: addr(0xf0),
      signer,
      signerNonce: nonce++,
      target: addr(0xaa),
      function: 'claim',
      data: '0x',
      sender: addr(0x99),
      gas: 100_000n,
      deadline: 1,
      signature: '0x' + (nonce * 7n).toString(16),
      reservedWei,
    });
    /** a queued row moved to `status`, created `createdHoursAgo` and last changed `updatedHoursAgo` */
    const row = async (
      status: string,
      createdHoursAgo: number,
      updatedHoursAgo = createdHoursAgo,
      opts: { signer?: string; costWei?: bigint; chainId?: number } = {},
    ) => {
      const q = await relays.enqueue(request(opts.signer ?? addr(0x51), 1000n, opts.chainId), 10n ** 30n);
      if (q.kind !== 'queued') throw new Error(q.kind);
      await db.query(
        `UPDATE relay_requests SET status = $2, cost_wei = $3,
           created_at = now() - make_interval(hours => $4), updated_at = now() - make_interval(hours => $5) WHERE id = $1`,
        [q.row.id, status, opts.costWei?.toString() ?? null, createdHoursAgo, updatedHoursAgo],
      );
      return q.row.id;
    };
    const ids = async () => (await db.query(`SELECT id FROM relay_requests ORDER BY id`)).map((r: { id: string }) => String(r.id));

    beforeEach(async () => {
      await db.query(`TRUNCATE relay_requests`);
    });

    it('deletes final rows older than the retention and keeps pending ones, recent ones and other chains', async () => {
      const gone = [await row('MINED', 200), await row('REVERTED', 200), await row('FAILED', 200), await row('MINED', 400, 300)];
      const stay = [
        await row('QUEUED', 400), // pending, however old
        await row('SENT', 400), // in flight (a replacement may still be due)
        await row('MINED', 200, 100), // last changed within the retention (mined late)
        await row('MINED', 30), // past the spend window but within the retention
        await row('FAILED', 2),
        await row('MINED', 500, 500, { chainId: 1 }), // another chain's outbox
      ];
      expect(await relays.pruneFinal(CHAIN, 168, { batchSize: 2 })).toBe(gone.length);
      expect(await ids()).toEqual(stay);
    });

    it('never deletes a row the spend limit still counts, whatever the retention asked for', async () => {
      const signer = addr(0x52);
      // the signer's rows: one mined 23 h ago inside the 24 h window (counted), one 25 h ago (not counted any more)
      const inside = await row('MINED', RELAY_SPEND_WINDOW_HOURS - 1, RELAY_SPEND_WINDOW_HOURS - 1, { signer, costWei: 6000n });
      const outside = await row('MINED', RELAY_SPEND_WINDOW_HOURS + 1, RELAY_SPEND_WINDOW_HOURS + 1, { signer, costWei: 6000n });
      const limit = 10_000n;
      // before pruning: 6000 spent, so 5000 more is over the limit
      expect((await relays.enqueue(request(signer, 5000n), limit)).kind).toBe('over-limit');
      // a retention of 1 h is raised to the spend window: only the row outside it goes
      expect(await relays.pruneFinal(CHAIN, 1, { batchSize: 100 })).toBe(1);
      expect(await ids()).toEqual([inside]);
      expect(await ids()).not.toContain(outside);
      // and the limit answers exactly as before
      const again = await relays.enqueue(request(signer, 5000n), limit);
      expect(again).toEqual({ kind: 'over-limit', spentWei: 6000n });
      expect((await relays.enqueue(request(signer, 4000n), limit)).kind).toBe('queued');
    });
  });
});
