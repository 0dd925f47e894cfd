import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { computeBounty, MODALITIES, URGENCIES, modalityIndex, stateIndex, toMask, urgencyIndex, seededRandom, mayRead } from '#domain';
import { createDataSource, ChainEvent, StudyRepository, WorklistQuery, WorklistRow, boundsState } from '#db';
import { createTestDatabase, hex, testChain } from '#db/testing';
import { EventStore, StoreWriter } from './event-store.js';

/**
 * The worklist on real Postgres against a reference written in TypeScript (the bounty formula of
 * libs/domain/src/bounty.ts, eligibility, filters, sort and keyset pagination done in memory): every page of
 * every way the repository finds it (ceilings, per combination, full) must be the reference's page.
 */
const CHAIN = 31337;
const T0 = 1_800_000_000;
const HORIZON = 7200;
let lastBlock = 0;
const chain = testChain(() => T0);
const header = (n: number, time: number) => chain.header(n, time);
const event = (block: number, time: number, name: string, args: ChainEvent['args']) => chain.event(block, name, args, time);

interface Study {
  id: string;
  m: number;
  u: number;
  state: string;
  d: bigint;
  max: bigint;
  postedAt: number;
  open: boolean;
}
interface Params {
  base: bigint[];
  urgency: bigint[];
  escalation: bigint;
}

const STATES = ['CA', 'NY', 'TX', 'WA'];
const MODS = ['XR', 'CT', 'MR'];
const RADIOLOGISTS = [
  { who: hex(0xa1, 20), states: ['CA', 'NY', 'TX', 'WA'], modalities: ['XR', 'CT', 'MR'] },
  { who: hex(0xa2, 20), states: ['CA'], modalities: ['CT'] },
  { who: hex(0xa3, 20), states: ['NY', 'WA'], modalities: ['XR', 'MR'] },
];

function reference(studies: Study[], params: Params, q: WorklistQuery, who: (typeof RADIOLOGISTS)[number]): WorklistRow[] {
  const rows = studies
    .filter(
      (s) =>
        s.open &&
        mayRead({ ...who, expiresAt: T0 + 365 * 86400, revoked: false }, { patientState: s.state, modality: MODALITIES[s.m] }, q.asOf),
    )
    .filter((s) => !q.modalities?.length || q.modalities.includes(MODALITIES[s.m]))
    .filter((s) => !q.states?.length || q.states.includes(s.state))
    .filter((s) => !q.urgencies?.length || q.urgencies.includes(URGENCIES[s.u]))
    .map((s) => ({
      s,
      bounty: computeBounty({
        base: params.base[s.m],
        difficultyBps: s.d,
        urgencyBps: params.urgency[s.u],
        escalationBpsPerHour: params.escalation,
        waitingSeconds: BigInt(q.asOf - s.postedAt),
        maxBounty: s.max,
      }),
    }))
    .filter((r) => q.minBounty === undefined || r.bounty >= q.minBounty);
  const cmp = (a: (typeof rows)[number], b: (typeof rows)[number]) =>
    q.sort === 'BOUNTY_DESC'
      ? a.bounty === b.bounty
        ? a.s.id < b.s.id
          ? -1
          : 1
        : a.bounty > b.bounty
          ? -1
          : 1
      : a.s.postedAt - b.s.postedAt || (a.s.id < b.s.id ? -1 : 1);
  rows.sort(cmp);
  const after = q.after;
  const rest = after
    ? rows.filter((r) =>
        q.sort === 'BOUNTY_DESC'
          ? r.bounty < after.bounty || (r.bounty === after.bounty && r.s.id > after.studyId)
          : r.s.postedAt > after.postedAt || (r.s.postedAt === after.postedAt && r.s.id > after.studyId),
      )
    : rows;
  return rest.slice(0, q.limit).map((r) => ({ studyId: r.s.id, currentBounty: r.bounty }) as WorklistRow);
}

describe('the worklist on real Postgres, against a TypeScript reference', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let writer: StoreWriter;
  let repo: StudyRepository;
  const rnd = seededRandom(6_2026);
  const studies: Study[] = [];
  let params: Params;
  let now = T0;

  /** stores events in a new block at chain time `time` (the checkpoint's time is the refresher's clock) */
  const store = async (events: (block: number, time: number) => ChainEvent[], time = now) => {
    const n = ++lastBlock;
    await writer.storeBatch(events(n, time), header(n, time));
  };
  const setParams = (p: Params) => {
    params = p;
    return store((b, t) => [
      ...p.base.map((v, k) => event(b, t, 'ParameterUpdated', { name: 'baseBounty', key: k, value: v.toString() })),
      ...p.urgency.map((v, k) => event(b, t, 'ParameterUpdated', { name: 'urgencyMultiplierBps', key: k, value: v.toString() })),
      event(b, t, 'ParameterUpdated', { name: 'escalationBpsPerHour', key: 0, value: p.escalation.toString() }),
    ]);
  };
  const post = (list: Study[]) =>
    store((b, t) =>
      list.map((s) =>
        event(b, t, 'StudyPosted', {
          studyId: s.id,
          ro: hex(2, 20),
          modality: s.m,
          difficultyBps: Number(s.d),
          urgency: s.u,
          patientState: stateIndex(s.state),
          maxBounty: s.max.toString(),
          postedAt: s.postedAt,
        }),
      ),
    );
  let nextId = 1;
  const randomStudy = (postedAt: number): Study => ({
    id: hex(rnd.int(1, 2 ** 40) * 4096 + nextId++, 32),
    m: modalityIndex(rnd.pick(MODS)),
    u: rnd.int(0, URGENCIES.length - 1),
    state: rnd.pick(STATES),
    d: BigInt(rnd.int(1000, 30_000)),
    // a few caps shared by many studies (ties broken by study ID), some high enough never to be reached
    max: rnd.pick([40_000_000n, 75_000_000n, 120_000_000n, rnd.big(10_000_000n, 400_000_000n), 10n ** 15n]),
    postedAt,
    open: true,
  });
  /** runs the indexer's refresher to completion; returns the number of chunks */
  const refresh = async () => {
    let chunks = 0;
    for (;;) {
      const r = await writer.refreshWorklistBounds({ horizonSeconds: HORIZON, chunkRows: 150 });
      if (!r || r.idle) return chunks;
      chunks++;
      if (r.completed) return chunks;
    }
  };

  /** every page (size `limit`) of the query against the reference; returns the paths used */
  async function walk(
    q: Omit<WorklistQuery, 'chainId' | 'radiologist' | 'limit'>,
    who: (typeof RADIOLOGISTS)[number],
    limit = 9,
    maxPages = 8,
  ) {
    const paths = new Set<string>();
    let after: WorklistQuery['after'];
    for (let page = 0; page < maxPages; page++) {
      const query: WorklistQuery = { ...q, chainId: CHAIN, radiologist: who.who, limit, after };
      const got = await repo.worklistPage(query);
      paths.add(got.path);
      const expected = reference(studies, params, query, who);
      expect(
        got.rows.map((r) => [r.studyId, r.currentBounty]),
        `${who.who} ${q.sort} page ${page} at ${q.asOf - T0} s`,
      ).toEqual(expected.map((r) => [r.studyId, r.currentBounty]));
      if (got.rows.length < limit) break;
      const last = got.rows[got.rows.length - 1];
      after = { bounty: last.currentBounty, postedAt: last.postedAt, studyId: last.studyId };
    }
    return paths;
  }

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    writer = (await new EventStore(db).tryWriter(CHAIN, 'worklist'))!;
    repo = new StudyRepository(db);
    await setParams({
      base: MODALITIES.map(() => rnd.big(1_000_000n, 30_000_000n)),
      urgency: URGENCIES.map(() => BigInt(rnd.int(10_000, 30_000))),
      escalation: 1500n,
    });
    for (let i = 0; i < 6; i++) {
      const batch = Array.from({ length: 200 }, () => randomStudy(T0 - rnd.int(0, 60 * 3600)));
      studies.push(...batch);
      await post(batch);
    }
    await store((b, t) =>
      RADIOLOGISTS.map((r) =>
        event(b, t, 'CredentialAttested', {
          radiologist: r.who,
          statesMask: toMask(r.states.map(stateIndex)).toString(),
          modalitiesMask: toMask(r.modalities.map(modalityIndex)).toString(),
          expiresAt: T0 + 365 * 86400,
          verifier: hex(9, 20),
        }),
      ),
    );
  });
  afterAll(async () => {
    await writer?.release();
    await db?.destroy();
    await testDb?.drop();
  });

  it('pages by bounty through the full computation before the ceilings exist', async () => {
    expect(await boundsState(db, CHAIN)).toBeNull();
    const paths = await walk({ asOf: now, sort: 'BOUNTY_DESC' }, RADIOLOGISTS[0]);
    expect([...paths]).toEqual(['FULL']);
  });

  it('pages by bounty through the ceilings, exactly as the reference, at any chain time up to the horizon', async () => {
    expect(await refresh()).toBeGreaterThan(3); // 1,200 open studies in chunks of 150
    expect(await boundsState(db, CHAIN)).toMatchObject({ gen: 1, validUntil: now + HORIZON, refreshing: false });
    for (const dt of [0, 1800, 3599, 3600, HORIZON - 1, HORIZON])
      for (const who of RADIOLOGISTS)
        expect([...(await walk({ asOf: now + dt, sort: 'BOUNTY_DESC' }, who))], `+${dt}`).toEqual(['CEILINGS']);
  });

  it('applies filters, the minimum bounty and urgencies the same way on every path', async () => {
    const variants: Omit<WorklistQuery, 'chainId' | 'radiologist' | 'limit'>[] = [
      { asOf: now + 900, sort: 'BOUNTY_DESC', minBounty: 60_000_000n },
      { asOf: now + 900, sort: 'BOUNTY_DESC', urgencies: ['STAT', 'URGENT'], states: ['CA', 'WA'] },
      { asOf: now + 900, sort: 'BOUNTY_DESC', modalities: ['MR'], minBounty: 1n },
      { asOf: now + 900, sort: 'WAITING_DESC' },
      { asOf: now + 900, sort: 'WAITING_DESC', minBounty: 80_000_000n, urgencies: ['ROUTINE'] },
      { asOf: now + 900, sort: 'WAITING_DESC', states: ['NY'], modalities: ['XR', 'CT'] },
      { asOf: now + 900, sort: 'BOUNTY_DESC', states: ['FL'] },
    ];
    for (const v of variants) for (const who of RADIOLOGISTS) await walk(v, who, 7, 5);
  });

  it('stops trusting the ceilings past their horizon, and again after the next refresh', async () => {
    expect([...(await walk({ asOf: now + HORIZON + 1, sort: 'BOUNTY_DESC' }, RADIOLOGISTS[0], 9, 3))]).toEqual(['FULL']);
    // the refresher is idle while more than half the horizon is left, and refreshes after that
    now += HORIZON / 2 - 10;
    await store(() => []);
    expect(await refresh()).toBe(0);
    now += 20;
    await store(() => []);
    expect(await refresh()).toBeGreaterThan(0);
    expect((await boundsState(db, CHAIN))?.validUntil).toBe(now + HORIZON);
    expect([...(await walk({ asOf: now + HORIZON, sort: 'BOUNTY_DESC' }, RADIOLOGISTS[0]))]).toEqual(['CEILINGS']);
  });

  it('stops trusting the ceilings the moment a bounty parameter changes, until a refresh of the new generation', async () => {
    const before = (await boundsState(db, CHAIN))!;
    // a much higher base for CT: every CT study's bounty rises above its old ceiling
    await setParams({ ...params, base: params.base.map((b, m) => (MODALITIES[m] === 'CT' ? b * 20n : b)) });
    for (const who of RADIOLOGISTS) expect([...(await walk({ asOf: now, sort: 'BOUNTY_DESC' }, who, 9, 3))]).toEqual(['FULL']);
    // a refresh interrupted by another change starts over with a new generation
    expect((await writer.refreshWorklistBounds({ horizonSeconds: HORIZON, chunkRows: 150 }))?.started).toBe(true);
    await setParams({ ...params, escalation: 2500n });
    expect(await refresh()).toBeGreaterThan(0);
    const after = (await boundsState(db, CHAIN))!;
    expect(after.gen).toBeGreaterThan(before.gen + 1);
    for (const who of RADIOLOGISTS) expect([...(await walk({ asOf: now + 60, sort: 'BOUNTY_DESC' }, who))]).toEqual(['CEILINGS']);
    // a fee change does not touch the bounty: the ceilings stay trusted
    await store((b, t) => [event(b, t, 'ParameterUpdated', { name: 'feeBps', key: 0, value: '700' })]);
    expect(
      (await repo.worklistPage({ chainId: CHAIN, radiologist: RADIOLOGISTS[0].who, asOf: now, sort: 'BOUNTY_DESC', limit: 5 })).path,
    ).toBe('CEILINGS');
  });

  it('lists a study that comes back after an expired lease, and a new one, correctly before the next refresh', async () => {
    const who = RADIOLOGISTS[0];
    const top = (await repo.worklist({ chainId: CHAIN, radiologist: who.who, asOf: now, sort: 'BOUNTY_DESC', limit: 1 }))[0];
    const study = studies.find((s) => s.id === top.studyId)!;
    const [{ c }] = await db.query(`SELECT bounty_ceiling IS NOT NULL OR ceiling_until IS NOT NULL AS c FROM studies WHERE study_id = $1`, [
      study.id,
    ]);
    expect(c).toBe(true);
    await store((b, t) => [
      event(b, t, 'StudyClaimed', {
        studyId: study.id,
        ro: hex(2, 20),
        radiologist: who.who,
        bounty: top.currentBounty.toString(),
        feeBps: 500,
        leaseExpiresAt: now + 60,
      }),
    ]);
    study.open = false;
    await walk({ asOf: now, sort: 'BOUNTY_DESC' }, who, 9, 2);
    now += 3 * 3600; // the lease expires hours later, past the ceilings' horizon on the old ones
    await store((b, t) => [event(b, t, 'LeaseExpired', { studyId: study.id, radiologist: who.who })]);
    study.open = true;
    const [row] = await db.query(`SELECT bounty_ceiling, ceiling_until, ceiling_gen FROM studies WHERE study_id = $1`, [study.id]);
    expect(row).toEqual({ bounty_ceiling: null, ceiling_until: null, ceiling_gen: null }); // cleared by the trigger
    await refresh();
    // a new study after the refresh, with the highest possible bounty
    const fresh = { ...randomStudy(now), m: modalityIndex('CT'), u: urgencyIndex('STAT'), d: 30_000n, max: 10n ** 15n, state: 'CA' };
    studies.push(fresh);
    await post([fresh]);
    // walk far enough to pass both studies' places in the reference
    const all = reference(
      studies,
      params,
      { chainId: CHAIN, radiologist: who.who, asOf: now + 100, sort: 'BOUNTY_DESC', limit: 10_000 },
      who,
    );
    const deepest = Math.max(...[study.id, fresh.id].map((id) => all.findIndex((r) => r.studyId === id)));
    expect(deepest).toBeGreaterThanOrEqual(0);
    expect([...(await walk({ asOf: now + 100, sort: 'BOUNTY_DESC' }, who, 25, Math.ceil((deepest + 1) / 25) + 1))]).toEqual(['CEILINGS']);
  });

  it('refuses a new study that carries a ceiling: only the refresher writes one, on open studies', async () => {
    const s = randomStudy(now);
    const insert = (ceiling: string | null) =>
      db.query(
        `INSERT INTO studies (chain_id, study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty, posted_at, status,
           posted_tx, posted_block, updated_block, bounty_ceiling)
         VALUES ($1, $2, $3, 'CT', 1000, 'ROUTINE', 'CA', 5, $4, 'OPEN', $2, 1, 1, $5)`,
        [CHAIN, s.id, hex(2, 20), now, ceiling],
      );
    await expect(insert('1')).rejects.toThrow(/carries no bounty ceiling/);
    await insert(null);
    await db.query(`DELETE FROM studies WHERE study_id = $1`, [s.id]);
  });
});
