import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import { createDataSource } from '../../libs/db/src/data-source.js';
import { StudyRepository, WorklistSort } from '../../libs/db/src/repositories/study.repository.js';
import { createTestDatabase } from '../../libs/db/src/testing/test-database.js';
import { MODALITIES, URGENCIES, US_STATES } from '../../libs/domain/src/codes.js';

export interface BenchRow {
  what: string;
  n: number;
  p50: number;
  p99: number;
  unit: string;
}

const CHAIN = 31337;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/**
 * Bulk-loads `studies` studies (70 % open, posted over the last 30 days, states and modalities spread evenly) and
 * `radiologists` credentials (1–8 states, 1–4 modalities each) with generate_series into a throwaway database of
 * the machine's Postgres, then measures the worklist query (StudyRepository.worklist, first page of 20) for random
 * radiologists, both sort orders and with a filter. Prints the EXPLAIN ANALYZE of one query of each kind.
 */
export async function worklistBench(opts: { studies?: number; radiologists?: number; queries?: number } = {}): Promise<BenchRow[]> {
  const studies = opts.studies ?? 1_000_000;
  const radiologists = opts.radiologists ?? 10_000;
  const queries = opts.queries ?? 300;
  const db = await createTestDatabase();
  const ds: DataSource = await createDataSource(db.url, { applicationName: 'openread-bench' }).initialize();
  try {
    const t0 = performance.now();
    await ds.query(`INSERT INTO incentive_parameters (chain_id, name, key, value, updated_block, tx_hash)
      SELECT ${CHAIN}, 'baseBounty', m, (20 + 10 * m) * 1000000, 1, '0x' || repeat('0', 64) FROM generate_series(0, 6) m
      UNION ALL SELECT ${CHAIN}, 'urgencyMultiplierBps', u, (ARRAY[10000, 15000, 25000])[u + 1], 1, '0x' || repeat('0', 64) FROM generate_series(0, 2) u
      UNION ALL SELECT ${CHAIN}, 'escalationBpsPerHour', 0, 500, 1, '0x' || repeat('0', 64)`);
    await ds.query(
      `INSERT INTO studies (chain_id, study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty, posted_at,
         status, posted_tx, posted_block, updated_block)
       SELECT ${CHAIN}, '0x' || lpad(to_hex(g), 64, '0'), '0x' || lpad(to_hex(g % 50 + 1), 40, '0'),
              ($1::text[])[1 + (g * 7919) % 7], 1000 + (g * 104729) % 30000, ($2::text[])[1 + (g * 31) % 3],
              ($3::text[])[1 + (g * 613) % 51], (100 + g % 400) * 1000000,
              extract(epoch FROM now())::bigint - (g * 2654435761) % (30 * 86400),
              CASE WHEN g % 10 < 7 THEN 'OPEN' ELSE 'SETTLED' END, '0x' || lpad(to_hex(g), 64, '0'), g / 10, g / 10
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

    const repo = new StudyRepository(ds);
    const asOf = Math.floor(Date.now() / 1000);
    const who = (i: number) => '0x' + (1_000_000 + 1 + ((i * 7919) % radiologists)).toString(16).padStart(40, '0');
    const rows: BenchRow[] = [{ what: `bulk load (${studies} studies, ${radiologists} radiologists)`, n: 1, p50: loadSeconds, p99: loadSeconds, unit: 's' }];
    const variants: [string, Partial<Parameters<StudyRepository['worklist']>[0]>][] = [
      ['worklist BOUNTY_DESC first 20', { sort: 'BOUNTY_DESC' as WorklistSort }],
      ['worklist WAITING_DESC first 20', { sort: 'WAITING_DESC' as WorklistSort }],
      ['worklist BOUNTY_DESC, minBounty 150 tUSD, first 20', { sort: 'BOUNTY_DESC' as WorklistSort, minBounty: 150_000_000n }],
    ];
    for (const [what, v] of variants) {
      const times: number[] = [];
      for (let i = 0; i < queries; i++) {
        const t = performance.now();
        await repo.worklist({ chainId: CHAIN, radiologist: who(i), asOf, sort: 'BOUNTY_DESC', limit: 21, ...v });
        times.push(performance.now() - t);
      }
      rows.push({ what, n: queries, p50: pct(times, 50), p99: pct(times, 99), unit: 'ms' });
    }
    // the plan of one query of each sort (the widest radiologist: 8 states, 4 modalities)
    const wide = '0x' + (1_000_000 + 7).toString(16).padStart(40, '0');
    for (const sort of ['BOUNTY_DESC', 'WAITING_DESC'] as WorklistSort[]) {
      const logged: string[] = [];
      const query = ds.query.bind(ds);
      (ds as { query: unknown }).query = async (sql: string, params: unknown[]) => {
        if (sql.startsWith('SELECT states')) return query(sql, params); // the credential lookup runs as is
        const plan = await query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`, params);
        logged.push(...plan.map((r: Record<string, string>) => r['QUERY PLAN']));
        return [];
      };
      await new StudyRepository(ds).worklist({ chainId: CHAIN, radiologist: wide, asOf, sort, limit: 21 });
      (ds as { query: unknown }).query = query;
      console.log(`\nEXPLAIN ANALYZE worklist ${sort} (8 states, 4 modalities):\n${logged.join('\n')}`);
    }
    return rows;
  } finally {
    await ds.destroy();
    await db.drop();
  }
}

export function printTable(rows: BenchRow[]): void {
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  console.log('\n| measurement | n | p50 | p99 |\n|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.what} | ${r.n} | ${fmt(r.p50)} ${r.unit} | ${fmt(r.p99)} ${r.unit} |`);
}
