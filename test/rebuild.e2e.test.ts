import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLogRepository, createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { Activity, Chain, Row, catchUp, divergences, indexerConfig, snapshot, startChain } from './support/indexing.js';

const run = promisify(execFile);
const DOC = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');

/** The backup command as docs/operations.md writes it: the tables whose data it leaves out are the derived ones. */
function documentedDump(): { args: string[]; derived: string[] } {
  const block = [...DOC.matchAll(/```bash norun\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith('pg_dump'));
  if (!block) throw new Error('docs/operations.md: no pg_dump block');
  const words = block.replace(/\\\n/g, ' ').trim().split(/\s+/);
  expect(words[0]).toBe('pg_dump');
  expect(words.at(-1)).toBe('"$DATABASE_URL"');
  const args = words.slice(1, -1);
  const derived = args.filter((a) => a.startsWith('--exclude-table-data=')).map((a) => a.slice('--exclude-table-data='.length));
  return { args, derived };
}

/** Every row of a table as JSON, in a canonical order (no column needs to be known). */
async function rowsOf(c: pg.Client, table: string): Promise<Row[]> {
  return (await c.query(`SELECT to_jsonb(t) AS r FROM ${table} t ORDER BY to_jsonb(t)::text`)).rows.map((x) => x.r);
}

async function tables(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
    return r.rows.map((x) => x.tablename);
  } finally {
    await c.end();
  }
}

/** The tables the backup keeps, row for row (every column). */
async function keptRows(url: string, kept: string[]): Promise<Record<string, Row[]>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, Row[]> = {};
    for (const t of kept) out[t] = await rowsOf(c, t);
    return out;
  } finally {
    await c.end();
  }
}

/** A new, empty database on the test server (what `createdb` makes), dropped afterwards. */
async function emptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `openread_restore_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

describe('backup and rebuild (docs/operations.md)', () => {
  let chain: Chain;
  let db: { url: string; drop(): Promise<void> };
  let ds: DataSource;
  const dir = mkdtempSync(join(tmpdir(), 'openread-backup-'));
  const dropLater: { drop(): Promise<void> }[] = [];

  beforeAll(async () => {
    chain = await startChain();
    db = await createTestDatabase();
    ds = await createDataSource(db.url, { poolSize: 2 }).initialize();
    await new Activity(chain, 22, { governanceAndRoles: true }).run(60);
    await catchUp(indexerConfig(chain, db.url), ds);
    // state that only Postgres holds: an RO, its key, vault rows, the hash-chained access log, a session, a queued relay
    const studyId = (await ds.query(`SELECT study_id FROM studies ORDER BY study_id LIMIT 1`))[0].study_id as string;
    const ro = (
      await ds.query(`INSERT INTO radiology_orgs (chain_id, name, public_key, created_by) VALUES ($1, 'Backup RO', $2, $3) RETURNING id`, [
        chain.deployment.chainId,
        randomBytes(32),
        '0x' + '11'.repeat(20),
      ])
    )[0].id;
    await ds.query(`INSERT INTO encryption_keys (chain_id, account, public_key) VALUES ($1, $2, $3)`, [
      chain.deployment.chainId,
      '0x' + '22'.repeat(20),
      randomBytes(32),
    ]);
    await ds.query(`INSERT INTO sessions (token_hash, address, chain_id, expires_at) VALUES ('h', $1, $2, now() + interval '1 day')`, [
      '0x' + '33'.repeat(20),
      chain.deployment.chainId,
    ]);
    const log = new AccessLogRepository(ds);
    for (const outcome of ['GRANTED', 'REFUSED', 'GRANTED'] as const)
      await log.append({ chainId: chain.deployment.chainId, studyId, account: '0x' + '44'.repeat(20), action: 'FETCH_PAYLOAD', outcome });
    expect(ro).toBeTruthy();
  });

  afterAll(async () => {
    await ds?.destroy();
    for (const d of dropLater) await d.drop();
    await db?.drop();
    await chain?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the documented dump leaves out exactly the derived tables, and a restore plus a re-index gives every row back', async () => {
    const { args, derived } = documentedDump();
    const all = await tables(db.url);
    for (const t of derived) expect(all, `docs/operations.md names a table the schema does not have: ${t}`).toContain(t);
    // every table is either derived (re-indexed) or kept: a new table must be classified in the docs
    const kept = all.filter((t) => !derived.includes(t));
    for (const t of kept) expect(DOC, `docs/operations.md does not say where ${t} comes from`).toContain(`\`${t}\``);

    const original = await snapshot(db.url);
    const originalKept = await keptRows(db.url, kept);
    expect(original.chain_events.length).toBeGreaterThan(50);
    expect(originalKept.study_access_log).toHaveLength(3);

    const file = join(dir, 'openread.dump');
    await run('pg_dump', [...args.map((a) => (a === '--file=openread.dump' ? `--file=${file}` : a)), db.url]);

    // restore into a new, empty database, then let the indexer find the chain again
    const restored = await emptyDatabase();
    dropLater.push(restored);
    await run('pg_restore', [`--dbname=${restored.url}`, '--single-transaction', '--no-owner', file]);
    const empty = await keptRows(restored.url, derived);
    for (const t of derived) expect(empty[t], `${t} was backed up`).toEqual([]);
    await catchUp(indexerConfig(chain, restored.url));
    expect(divergences(await snapshot(restored.url), original)).toEqual([]);
    expect(await keptRows(restored.url, kept)).toEqual(originalKept);
  });

  it('truncating the derived tables and re-indexing in place gives the same rows', async () => {
    const { derived } = documentedDump();
    const all = await tables(db.url);
    const kept = all.filter((t) => !derived.includes(t));
    const original = await snapshot(db.url);
    const originalKept = await keptRows(db.url, kept);
    const indexedBlocks = (await keptRows(db.url, ['indexed_blocks'])).indexed_blocks;

    await ds.query(`TRUNCATE ${derived.join(', ')} RESTART IDENTITY`);
    expect((await snapshot(db.url)).chain_events).toEqual([]);
    await catchUp(indexerConfig(chain, db.url), ds);
    expect(divergences(await snapshot(db.url), original)).toEqual([]);
    expect((await keptRows(db.url, ['indexed_blocks'])).indexed_blocks).toEqual(indexedBlocks);
    expect(await keptRows(db.url, kept)).toEqual(originalKept);
  });
});
