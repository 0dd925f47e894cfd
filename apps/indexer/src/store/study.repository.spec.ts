import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { computeBounty, MODALITIES, URGENCIES, US_STATES, seededRandom } from '#domain';
import { createDataSource, ChainEvent, StudyRepository } from '#db';
import { createTestDatabase, hex, testChain } from '#db/testing';
import { EventStore, StoreWriter } from './event-store.js';

const CHAIN = 31337;
const { header, event } = testChain((n) => 1_700_000_000 + n);

describe('StudyRepository on real Postgres', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let store: EventStore;
  let studies: StudyRepository;
  const writers: StoreWriter[] = [];
  const writer = async (stream: string) => {
    const w = (await store.tryWriter(CHAIN, stream))!;
    writers.push(w);
    return w;
  };

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    store = new EventStore(db);
    studies = new StudyRepository(db);
  });
  afterAll(async () => {
    for (const w of writers) await w.release();
    await db?.destroy();
    await testDb?.drop();
  });

  it('computes the same bounty in SQL as the TypeScript formula for 400 random studies and times', async () => {
    const w = await writer('test');
    const rnd = seededRandom(20261127);
    let block = 1;
    for (let round = 0; round < 4; round++) {
      // random parameters within the contract's hard bounds
      const base = MODALITIES.map(() => rnd.big(0n, 10_000_000_000n));
      const urgency = URGENCIES.map(() => BigInt(rnd.int(10_000, 50_000)));
      const escalation = BigInt(rnd.int(0, 10_000));
      const params: ChainEvent[] = [
        ...base.map((v, k) => event(block, 'ParameterUpdated', { name: 'baseBounty', key: k, value: v.toString() })),
        ...urgency.map((v, k) => event(block, 'ParameterUpdated', { name: 'urgencyMultiplierBps', key: k, value: v.toString() })),
        event(block, 'ParameterUpdated', { name: 'escalationBpsPerHour', key: 0, value: escalation.toString() }),
      ];
      await w.storeBatch(params, header(block));
      block++;
      const posted: ChainEvent[] = [];
      const inputs: { id: string; m: number; u: number; d: bigint; max: bigint; postedAt: number }[] = [];
      for (let i = 0; i < 100; i++) {
        const id = hex(round * 1000 + i + 1, 32);
        const m = rnd.int(0, MODALITIES.length - 1);
        const u = rnd.int(0, URGENCIES.length - 1);
        const d = BigInt(rnd.int(1000, 100_000));
        const max = rnd.pick([1n, rnd.big(1n, 2n ** 128n - 1n), rnd.big(1n, 100_000_000n)]);
        const postedAt = 1_800_000_000 + rnd.int(-100_000, 0);
        inputs.push({ id, m, u, d, max, postedAt });
        posted.push(
          event(block, 'StudyPosted', {
            studyId: id,
            ro: hex(2, 20),
            modality: m,
            difficultyBps: Number(d),
            urgency: u,
            patientState: rnd.int(0, US_STATES.length - 1),
            maxBounty: max.toString(),
            postedAt,
          }),
        );
      }
      await w.storeBatch(posted, header(block));
      block++;
      for (const s of inputs) {
        const asOf = rnd.pick([s.postedAt, s.postedAt + 3599, s.postedAt + 3600, 1_800_000_000 + rnd.int(0, 10_000_000)]);
        const expected = computeBounty({
          base: base[s.m],
          difficultyBps: s.d,
          urgencyBps: urgency[s.u],
          escalationBpsPerHour: escalation,
          waitingSeconds: BigInt(asOf - s.postedAt),
          maxBounty: s.max,
        });
        expect(await studies.currentBounty(CHAIN, s.id, asOf)).toBe(expected);
      }
    }
  });

  it('changes nothing when the same log is stored twice', async () => {
    const e = event(900, 'Deposited', { account: hex(7, 20), amount: '5000000' });
    const w = await writer('dup');
    const first = await w.storeBatch([e], header(900));
    const second = await w.storeBatch([e, e], header(900));
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(0);
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM ledger_entries WHERE account = $1`, [hex(7, 20)]);
    expect(n).toBe(1);
  });

  it('never moves the checkpoint backwards', async () => {
    const w = await writer('cp');
    await w.storeBatch([], header(50));
    await w.storeBatch([], header(40));
    expect((await store.checkpoint(CHAIN, 'cp'))?.blockNumber).toBe(50);
  });
});
