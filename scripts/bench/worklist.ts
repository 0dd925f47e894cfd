import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import { createDataSource, StudyRepository, WorklistQuery, WorklistSort } from '#db';
import { EventStore } from '#indexer-store';
import { createTestDatabase } from '#db/testing';
import { MODALITIES, URGENCIES, US_STATES } from '#domain';

import type { BenchRow } from './table.js';

const CHAIN = 31337;
/** the refresher's chunk, as the indexer's default (WORKLIST_BOUNDS_CHUNK_ROWS) */
const CHUNK = 1000;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/**
 * Bulk-loads `studies` studies (70 % open, posted over the last 30 days, states, modalities, urgencies, caps and ages
 * independent and spread evenly) and
 * `radiologists` credentials (1–8 states, 1–4 modalities each) with generate_series into a throwaway database of
 * the machine's Postgres, runs the indexer's bounty-ceiling refresher (worklist-bounds.ts) as it runs when caught
 * up, then measures the worklist query (StudyRepository.worklistPage: first page of 20, page 5, filters) for random
 * radiologists after a warm-up, both sort orders, and the full computation used while the ceilings are not trusted.
 * Prints the EXPLAIN ANALYZE of one query of each kind.
 */
export async function worklistBench(opts: { studies?: number; radiologists?: number; queries?: number } = {}): Promise<BenchRow[]> {
  const studies = opts.studies ?? 1_000_000;
  const radiologists = opts.radiologists ?? 10_000;
  const queries = opts.queries ?? 200;
  const db = await createTestDatabase();
  const ds: DataSource = await createDataSource(db.url, { applicationName: 'openread-bench' }).initialize();
  try {
    const t0 = performance.now();
    await ds.query(`INSERT INTO incentive_parameters (chain_id, name, key, value, updated_block, tx_hash)
      SELECT ${CHAIN}, 'baseBounty', m, (20 + 10 * m) * 1000000, 1, '0x' || repeat('0', 64) FROM generate_series(0, 6) m
      UNION ALL SELECT ${CHAIN}, 'urgencyMultiplierBps', u, (ARRAY[10000, 15000, 25000])[u + 1], 1, '0x' || repeat('0', 64) FROM generate_series(0, 2) u
      UNION ALL SELECT ${CHAIN}, 'escalationBpsPerHour', 0, 500, 1, '0x' || repeat('0', 64)`);
    // independent pseudo-random columns (a hash of the row number and a salt): no correlation between state,
    // modality, urgency, bounty and age, which a linear formula of the row number would create
    // (the database is a throwaway one: the function goes with it)
    await ds.query(`CREATE FUNCTION h(g bigint, salt int) RETURNS bigint LANGUAGE sql IMMUTABLE AS
      'SELECT hashint8(g * 1000 + salt)::bigint + 2147483648'`);
    await ds.query(
      `INSERT INTO studies (chain_id, study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty, posted_at,
         status, posted_tx, posted_block, updated_block)
       SELECT ${CHAIN}, '0x' || lpad(to_hex(g), 64, '0'), '0x' || lpad(to_hex(g % 50 + 1), 40, '0'),
              ($1::text[])[1 + h(g, 1) % 7], 1000 + h(g, 2) % 30000, ($2::text[])[1 + h(g, 3) % 3],
              ($3::text[])[1 + h(g, 4) % 51], (100 + h(g, 5) % 400) * 1000000,
              extract(epoch FROM now())::bigint - h(g, 6) % (30 * 86400),
              CASE WHEN h(g, 7) % 10 < 7 THEN 'OPEN' ELSE 'SETTLED' END, '0x' || lpad(to_hex(g), 64, '0'), g / 10, g / 10
       FROM generate_series(1, $4::bigint) g`,
      [MODALITIES, URGENCIES, US_STATES, studies],
    );
    await ds.query(
      `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block)
       SELECT ${CHAIN}, '0x' || lpad(to_hex(1000000 + r), 40, '0'),
              ARRAY(SELECT ($1::text[])[1 + (r * 37 + k * 13) % 51] FROM generate_series(0, r % 8) k),
              ARRAY(SELECT ($2::text[])[1 + (r + k * 3) % 7] FROM generate_series(0, r % 4) k),
              extract(epoch FROM now())::bigint + 365 * 86400, false, '0x' || repeat('1', 40), 1
       FROM generate_series(1, $3::int) r`,
      [US_STATES, MODALITIES, radiologists],
    );
    await ds.query(`ANALYZE`);
    const loadSeconds = (performance.now() - t0) / 1000;
    const rows: BenchRow[] = [
      { what: `bulk load (${studies} studies, ${radiologists} radiologists)`, n: 1, p50: loadSeconds, p99: loadSeconds, unit: 's' },
    ];
    const asOf = Math.floor(Date.now() / 1000);

    // the indexer's refresher, as it runs once caught up: a full refresh (a new generation of parameters), then the
    // periodic one (half a horizon later: only studies whose bounty is still below its cap are rewritten)
    const horizonSeconds = 3600;
    const writer = (await new EventStore(ds).tryWriter(CHAIN, 'bench'))!;
    const setClock = (t: number) =>
      ds.query(
        `INSERT INTO indexer_checkpoints (chain_id, stream, block_number, block_time) VALUES ($1, 'bench', 1, $2)
         ON CONFLICT ON CONSTRAINT indexer_checkpoints_pk DO UPDATE SET block_time = EXCLUDED.block_time`,
        [CHAIN, t],
      );
    const [{ open }] = await ds.query(`SELECT count(*)::int AS open FROM studies WHERE status = 'OPEN'`);
    const refresh = async (what: string) => {
      const t = performance.now();
      let chunks = 0;
      let updated = 0;
      const chunkTimes: number[] = [];
      for (;;) {
        const c = performance.now();
        const r = await writer.refreshWorklistBounds({ horizonSeconds, chunkRows: CHUNK });
        if (!r || r.idle) break;
        chunkTimes.push(performance.now() - c);
        chunks++;
        updated += r.updated;
        if (r.completed) break;
      }
      const s = (performance.now() - t) / 1000;
      rows.push({ what: `${what}: ${updated} of ${open} open studies rewritten, ${chunks} chunks`, n: 1, p50: s, p99: s, unit: 's' });
      rows.push({
        what: `${what}: one chunk (${CHUNK} open studies, one transaction)`,
        n: chunkTimes.length,
        p50: pct(chunkTimes, 50),
        p99: pct(chunkTimes, 99),
        unit: 'ms',
      });
    };
    try {
      await setClock(asOf - horizonSeconds);
      await refresh('ceiling refresh, new parameters');
      await setClock(asOf - horizonSeconds / 2 + 1);
      await refresh('ceiling refresh, periodic');
    } finally {
      await writer.release();
    }
    await ds.query(`VACUUM ANALYZE studies`);
    await ds.query(`ANALYZE`);

    const repo = new StudyRepository(ds);
    const who = (i: number) => '0x' + (1_000_000 + 1 + ((i * 7919) % radiologists)).toString(16).padStart(40, '0');
    const variants: [string, Partial<WorklistQuery>, number][] = [
      ['worklist BOUNTY_DESC first 20', { sort: 'BOUNTY_DESC' }, 1],
      ['worklist BOUNTY_DESC page 5 (keyset)', { sort: 'BOUNTY_DESC' }, 5],
      ['worklist BOUNTY_DESC, minBounty 150 tUSD, first 20', { sort: 'BOUNTY_DESC', minBounty: 150_000_000n }, 1],
      ['worklist BOUNTY_DESC, STAT only, first 20', { sort: 'BOUNTY_DESC', urgencies: ['STAT'] }, 1],
      ['worklist WAITING_DESC first 20', { sort: 'WAITING_DESC' }, 1],
      ['worklist WAITING_DESC page 5 (keyset)', { sort: 'WAITING_DESC' }, 5],
    ];
    /** the last page's time, after walking to it; the path each query took */
    const page = async (q: WorklistQuery, pages: number) => {
      let after: WorklistQuery['after'];
      let ms = 0;
      let path = '';
      for (let i = 0; i < pages; i++) {
        const t = performance.now();
        const r = await repo.worklistPage({ ...q, after });
        ms = performance.now() - t;
        path = r.path;
        const last = r.rows[r.rows.length - 1];
        if (!last) break;
        after = { bounty: last.currentBounty, postedAt: last.postedAt, studyId: last.studyId };
      }
      return { ms, path };
    };
    // warm-up: the first queries after the load read the indexes from disk
    for (let i = 0; i < 50; i++)
      await page({ chainId: CHAIN, radiologist: who(radiologists - i), asOf, sort: i % 2 ? 'BOUNTY_DESC' : 'WAITING_DESC', limit: 21 }, 1);
    for (const [what, v, pages] of variants) {
      const times: number[] = [];
      const paths = new Set<string>();
      for (let i = 0; i < queries; i++) {
        const r = await page({ chainId: CHAIN, radiologist: who(i), asOf, sort: 'BOUNTY_DESC', limit: 21, ...v }, pages);
        times.push(r.ms);
        paths.add(r.path);
      }
      rows.push({ what: `${what} [${[...paths].join(', ')}]`, n: queries, p50: pct(times, 50), p99: pct(times, 99), unit: 'ms' });
    }
    // for comparison: the full computation (what the worklist does while the ceilings do not hold)
    const full: number[] = [];
    for (let i = 0; i < Math.min(queries, 50); i++) {
      const t = performance.now();
      const r = await repo.worklistPage({
        chainId: CHAIN,
        radiologist: who(i),
        asOf: asOf + horizonSeconds * 2,
        sort: 'BOUNTY_DESC',
        limit: 21,
      });
      full.push(performance.now() - t);
      if (r.path !== 'FULL') throw new Error(`expected the full computation past the horizon, got ${r.path}`);
    }
    rows.push({
      what: 'worklist BOUNTY_DESC first 20, ceilings not trusted [FULL]',
      n: full.length,
      p50: pct(full, 50),
      p99: pct(full, 99),
      unit: 'ms',
    });

    // the plans (the widest radiologist: 8 states, 4 modalities)
    const wide = '0x' + (1_000_000 + 7).toString(16).padStart(40, '0');
    for (const [sort, at] of [
      ['BOUNTY_DESC', asOf],
      ['WAITING_DESC', asOf],
      ['BOUNTY_DESC', asOf + horizonSeconds * 2],
    ] as [WorklistSort, number][]) {
      const r = await repo.worklistPage({ chainId: CHAIN, radiologist: wide, asOf: at, sort, limit: 21 }, { explain: true });
      console.log(`\nEXPLAIN ANALYZE worklist ${sort} [${r.path}] (8 states, 4 modalities):\n${r.plan!.join('\n')}`);
    }
    return rows;
  } finally {
    await ds.destroy();
    await db.drop();
  }
}
