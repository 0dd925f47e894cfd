import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { computeBounty, MODALITIES, URGENCIES, US_STATES, seededRandom } from '#domain';
import { createDataSource, ChainEvent, FeedPosition, StudyFeedRepository } from '#db';
import { createTestDatabase, hex, testChain } from '#db/testing';
import { EventStore, StoreWriter } from './event-store.js';

const CHAIN = 31337;
const T0 = 1_800_000_000;
const { header, event } = testChain((n) => T0 + n);

describe('the live worklist feed on real Postgres', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let writer: StoreWriter;
  let feed: StudyFeedRepository;
  const rnd = seededRandom(2611);
  const base = MODALITIES.map(() => rnd.big(1_000_000n, 20_000_000n));
  const urgency = URGENCIES.map(() => BigInt(rnd.int(10_000, 30_000)));
  const escalation = 700n;
  let afterParameters: FeedPosition;
  const studies: { id: string; m: number; u: number; d: bigint; max: bigint; postedAt: number }[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    writer = (await new EventStore(db).tryWriter(CHAIN, 'feed'))!;
    feed = new StudyFeedRepository(db);
    await writer.storeBatch(
      [
        ...base.map((v, k) => event(1, 'ParameterUpdated', { name: 'baseBounty', key: k, value: v.toString() })),
        ...urgency.map((v, k) => event(1, 'ParameterUpdated', { name: 'urgencyMultiplierBps', key: k, value: v.toString() })),
        event(1, 'ParameterUpdated', { name: 'escalationBpsPerHour', key: 0, value: escalation.toString() }),
      ],
      header(1),
    );
    // 1,300 studies in one block (more than two pages of the feed), posted over the last 3 days
    const posted: ChainEvent[] = [];
    for (let i = 0; i < 1300; i++) {
      const s = {
        id: hex(i + 1, 32),
        m: rnd.int(0, MODALITIES.length - 1),
        u: rnd.int(0, URGENCIES.length - 1),
        d: BigInt(rnd.int(1000, 30_000)),
        max: rnd.pick([5_000_000n, 10n ** 18n]),
        postedAt: T0 - rnd.int(0, 3 * 86400),
      };
      studies.push(s);
      posted.push(
        event(2, 'StudyPosted', {
          studyId: s.id,
          ro: hex(2, 20),
          modality: s.m,
          difficultyBps: Number(s.d),
          urgency: s.u,
          patientState: rnd.int(0, US_STATES.length - 1),
          maxBounty: s.max.toString(),
          postedAt: s.postedAt,
        }),
      );
    }
    afterParameters = await feed.head(CHAIN);
    await writer.storeBatch(posted, header(2));
  });
  afterAll(async () => {
    await writer?.release();
    await db?.destroy();
    await testDb?.drop();
  });

  const bounty = (s: (typeof studies)[number], t: number) =>
    computeBounty({
      base: base[s.m],
      difficultyBps: s.d,
      urgencyBps: urgency[s.u],
      escalationBpsPerHour: escalation,
      waitingSeconds: BigInt(t - s.postedAt),
      maxBounty: s.max,
    });

  /** every study the feed reports after `from`, in pages of `size`, and whether a bounty parameter changed */
  const drain = async (from: FeedPosition, size: number) => {
    const head = await feed.head(CHAIN);
    const seen: string[] = [];
    let parameters = false;
    let at = from;
    for (let guard = 0; guard < 20; guard++) {
      const page = await feed.changes(CHAIN, at, head, T0, size);
      seen.push(...page.studies.map((s) => s.studyId));
      parameters ||= page.parametersChanged;
      if (!page.full) return { seen, parameters, head };
      at = page.last!;
    }
    throw new Error('the feed did not end');
  };

  it('pages through more events than fit one page inside a single block, each exactly once', async () => {
    const { seen, parameters } = await drain(afterParameters, 500);
    expect(seen.sort()).toEqual(studies.map((s) => s.id).sort());
    expect(parameters).toBe(false); // the parameter changes are before the start
    const fromStart = await feed.changes(CHAIN, 0, afterParameters, T0, 500);
    expect(fromStart).toMatchObject({ studies: [], parametersChanged: true, full: false });
  });

  it("reports the events of a reorg's new branch even when their blocks and log indexes are behind the position", async () => {
    const head = await feed.head(CHAIN);
    // block 3 with a posting at log index 5, then a reorg back to block 2 and a new block 3 whose posting is at log index 0
    const at = (block: number, logIndex: number, id: string): ChainEvent => ({
      ...event(block, 'StudyPosted', {
        studyId: id,
        ro: hex(2, 20),
        modality: 1,
        difficultyBps: 10_000,
        urgency: 0,
        patientState: 4,
        maxBounty: '1',
        postedAt: T0,
      }), // capped at once: never escalates
      logIndex,
      blockHash: hex(0xb3000 + logIndex, 32),
    });
    const gone = hex(0xdead, 32);
    const fresh = hex(0xbeef, 32);
    await writer.storeBatch([at(3, 5, gone)], { ...header(3), blockHash: hex(0xb3005, 32) });
    expect((await drain(head, 500)).seen).toEqual([gone]);
    const afterGone = await feed.head(CHAIN);
    await writer.rollback(header(2));
    await writer.storeBatch([at(3, 0, fresh)], { ...header(3), blockHash: hex(0xb3000, 32) });
    expect((await drain(afterGone, 500)).seen).toEqual([fresh]);
  });

  it('finds exactly the open studies whose bounty grew in a window, short or long, wrapping the hour or not, in pages', async () => {
    const windows: [number, number][] = [
      [T0, T0 + 1],
      [T0 + 10, T0 + 900],
      [T0 + 3000, T0 + 4000],
      [T0 + 3599, T0 + 3601],
      [T0 - 500, T0 + 3100],
      [T0, T0 + 3600],
      [T0 + 100, T0 + 20_000],
      [T0 + 7200, T0 + 7200],
    ];
    for (let i = 0; i < 12; i++) {
      const from = T0 + rnd.int(0, 10_000);
      windows.push([from, from + rnd.pick([1, 59, 600, 3599, 3600, 3601, 9000])]);
    }
    for (const [from, to] of windows) {
      const expected = studies
        .filter((s) => bounty(s, to) > bounty(s, from))
        .map((s) => [s.id, bounty(s, to)])
        .sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const got: [string, bigint][] = [];
      let after: string | null = null;
      for (let guard = 0; guard < 20; guard++) {
        const page = await feed.escalated(CHAIN, from, to, after, 200);
        got.push(...page.map((r) => [r.studyId, r.currentBounty] as [string, bigint]));
        if (page.length < 200) break;
        after = page.at(-1)!.studyId;
      }
      expect(got, `window (${from - T0}, ${to - T0}]`).toEqual(expected);
    }
  });
});
