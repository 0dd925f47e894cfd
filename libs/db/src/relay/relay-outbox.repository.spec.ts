import { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDataSource } from '../data-source.js';
import { createTestDatabase } from '../testing/test-database.js';
import { type NewOutboxCall, OUTBOX_QUEUED, OUTBOX_SETTLED, OutboxListener, RelayOutboxRepository } from './relay-outbox.repository.js';

const CHAIN = 31337;
/** polls `check` until it holds (notifications arrive asynchronously) */
async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
const addr = (n: number) => '0x' + n.toString(16).padStart(40, '0');
const SETTLER = addr(0x99);
const settle = (study: number): NewOutboxCall => ({
  chainId: CHAIN,
  purpose: 'settlement',
  sender: SETTLER,
  target: addr(0xaa),
  function: 'settle',
  data: `0x${study.toString(16).padStart(8, '0')}`,
  dedupeKey: `settle:${study}`,
});

describe('the transaction outbox on real Postgres', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let outbox: RelayOutboxRepository;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    outbox = new RelayOutboxRepository(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await testDb?.drop();
  });
  beforeEach(async () => {
    await db.query(`TRUNCATE relay_requests`);
  });

  it('queues a timer action once while it is live, however many passes enqueue it at once, and again once it is final', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => outbox.enqueueCall(settle(1))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.row.id)).size).toBe(1);
    expect((await outbox.enqueueCall(settle(2))).created).toBe(true); // another study: its own row

    const [live] = results;
    await outbox.failed(live.row.id, 'CONFLICT', 'settled by someone else', 'InvalidStatus');
    expect(await outbox.findById(live.row.id)).toMatchObject({ status: 'FAILED', errorCode: 'CONFLICT', errorReason: 'InvalidStatus' });
    const again = await outbox.enqueueCall(settle(1));
    expect(again.created).toBe(true);
    expect(again.row.id).not.toBe(live.row.id);
  });

  it("gives each key's sender its own rows, oldest first", async () => {
    const a = await outbox.enqueueCall(settle(1));
    await outbox.enqueueCall({ ...settle(2), purpose: 'governance', sender: addr(0x88), dedupeKey: undefined });
    const b = await outbox.enqueueCall(settle(3));
    expect((await outbox.pending(CHAIN, SETTLER, false)).map((r) => r.id)).toEqual([a.row.id, b.row.id]);
    expect((await outbox.pending(CHAIN, addr(0x88), false)).map((r) => r.purpose)).toEqual(['governance']);
  });

  it('notifies the sender when a row is queued (at commit) and the waiting request when it is final', async () => {
    const queued: string[] = [];
    const settled: string[] = [];
    const listeners = [
      new OutboxListener(
        testDb.url,
        OUTBOX_QUEUED,
        (p) => queued.push(p),
        () => undefined,
      ),
      new OutboxListener(
        testDb.url,
        OUTBOX_SETTLED,
        (p) => settled.push(p),
        () => undefined,
      ),
    ];
    await Promise.all(listeners.map((l) => l.start()));
    try {
      const waiting = outbox.settled((await outbox.enqueueCall(settle(1))).row.id, 10_000, 10_000, async () => {
        // the nap ends when the notification arrives: no poll would come within the test's time
        while (!settled.length) await new Promise((r) => setTimeout(r, 5));
      });
      await until(() => queued.length === 1);
      await db.transaction(async (tx) => {
        await outbox.enqueueCall(settle(2), tx);
        await db.query(`SELECT 1`); // a round trip elsewhere: the open transaction's notification is not delivered
        expect(queued).toEqual([SETTLER]);
      });
      await until(() => queued.length === 2);
      const [first] = await outbox.pending(CHAIN, SETTLER, false);
      await outbox.failed(first.id, 'CONFLICT', 'refused');
      expect((await waiting).status).toBe('FAILED');
      expect(settled).toEqual([first.id]);
    } finally {
      await Promise.all(listeners.map((l) => l.stop()));
    }
  });

  it('listens again after its connection is cut, so notifications come back without a restart', async () => {
    const queued: string[] = [];
    const warnings: string[] = [];
    const listener = new OutboxListener(
      testDb.url,
      OUTBOX_QUEUED,
      (p) => queued.push(p),
      (m) => warnings.push(m),
    );
    await listener.start();
    try {
      expect(listener.listening).toBe(true);
      // the connection dies as when Postgres restarts or a proxy drops it
      await db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = $1 AND pid <> pg_backend_pid()`,
        [`LISTEN ${OUTBOX_QUEUED}`],
      );
      await until(() => warnings.some((w) => w.includes('lost')));
      await until(() => listener.listening);
      await outbox.enqueueCall(settle(7));
      await until(() => queued.length === 1);
      expect(queued).toEqual([SETTLER]);
    } finally {
      await listener.stop();
    }
  });

  it("picks each gasless signer's oldest live request only, so one signer's backlog cannot starve the others", async () => {
    const gasless = (signer: string, nonce: number) =>
      outbox.enqueue(
        {
          chainId: CHAIN,
          forwarder: addr(0xf0),
          signer,
          signerNonce: BigInt(nonce),
          target: addr(0xaa),
          function: 'claim',
          data: '0x12345678',
          gas: 100_000n,
          deadline: 2_000_000_000,
          signature: `0x${'11'.repeat(65)}`,
          reservedWei: 1n,
          requestHash: `0x${(nonce + (signer === addr(0xb1) ? 1000 : 0)).toString(16).padStart(64, '0')}`,
          sender: SETTLER,
        },
        10n ** 18n,
      );
    // 150 requests of one signer queued first, then one of another signer
    for (let n = 0; n < 150; n++) expect((await gasless(addr(0xb1), n)).kind).toBe('queued');
    expect((await gasless(addr(0xb2), 0)).kind).toBe('queued');
    const page = await outbox.pending(CHAIN, SETTLER, true);
    expect(page.map((r) => [r.signer, r.signerNonce])).toEqual([
      [addr(0xb1), 0n],
      [addr(0xb2), 0n],
    ]);
    // the same signed request again is the same row, whatever its status
    const again = await gasless(addr(0xb2), 0);
    expect(again.kind).toBe('duplicate');
    expect(await outbox.findByRequestHash(CHAIN, `0x${(0).toString(16).padStart(64, '0')}`)).toMatchObject({ signer: addr(0xb2) });
  });

  it('counts the live rows per purpose and status, and the gasless spend per signer in the window (FAILED not counted)', async () => {
    const gasless = (signer: string, nonce: number, reservedWei: bigint) =>
      outbox.enqueue(
        {
          chainId: CHAIN,
          forwarder: addr(0xf0),
          signer,
          signerNonce: BigInt(nonce),
          target: addr(0xaa),
          function: 'claim',
          data: '0x12345678',
          gas: 100_000n,
          deadline: 2_000_000_000,
          signature: `0x${'11'.repeat(65)}`,
          reservedWei,
          requestHash: `0x${(nonce + (signer === addr(0xb1) ? 1000 : 0)).toString(16).padStart(64, '0')}`,
          sender: SETTLER,
        },
        10n ** 18n,
      );
    expect(await outbox.queueStats(CHAIN)).toEqual({ live: [], gaslessSpentWei: 0n, gaslessTopSignerSpentWei: 0n });
    await gasless(addr(0xb1), 0, 30n);
    await gasless(addr(0xb1), 1, 40n);
    const dropped = await gasless(addr(0xb2), 0, 50n);
    await outbox.enqueueCall(settle(1));
    await outbox.enqueueCall(settle(2));
    if (dropped.kind !== 'queued') throw new Error(dropped.kind);
    await outbox.failed(dropped.row.id, 'EXPIRED', 'deadline passed');

    const stats = await outbox.queueStats(CHAIN);
    expect(stats.live.map(({ purpose, status, count }) => [purpose, status, count])).toEqual([
      ['gasless', 'QUEUED', 2],
      ['settlement', 'QUEUED', 2],
    ]);
    expect(stats.live.every((r) => r.oldestSeconds >= 0 && r.oldestSeconds < 60)).toBe(true);
    expect(stats.gaslessSpentWei).toBe(70n);
    expect(stats.gaslessTopSignerSpentWei).toBe(70n);
    expect((await outbox.queueStats(CHAIN + 1)).live).toEqual([]);
  });
});
