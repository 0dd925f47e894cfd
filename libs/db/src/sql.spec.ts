import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { createDataSource } from './data-source.js';
import { execute, join, queryRows, raw, sql } from './sql.js';
import { createTestDatabase } from './testing/test-database.js';

describe('sql helper (named parameters) on real Postgres', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    await db.query(`CREATE TABLE sql_helper_t (id int PRIMARY KEY, label text)`);
  });

  afterAll(async () => {
    await db?.destroy();
    await testDb?.drop();
  });

  it('numbers each interpolated value in order, nested fragments included, and sends the values beside the text', () => {
    const chainId = 7;
    const inner = sql`x = ${'a'}`;
    const q = sql`SELECT ${chainId}::int AS c WHERE ${inner} AND y = ${chainId} ${raw('ORDER BY 1')}`;
    expect(q.text).toBe('SELECT $1::int AS c WHERE x = $2 AND y = $3 ORDER BY 1');
    expect(q.values).toEqual([7, 'a', 7]);
  });

  it('queryRows answers the rows of a SELECT or INSERT … RETURNING, typed by the caller', async () => {
    const inserted = await queryRows<{ id: number }>(
      db,
      sql`INSERT INTO sql_helper_t VALUES (${1}, ${'one'}), (${2}, ${'two'}) RETURNING id`,
    );
    expect(inserted.map((r) => r.id)).toEqual([1, 2]);
    const rows = await queryRows<{ label: string }>(db, sql`SELECT label FROM sql_helper_t WHERE id IN (${join([1, 2])}) ORDER BY id`);
    expect(rows).toEqual([{ label: 'one' }, { label: 'two' }]);
  });

  it('execute answers the rows and the count of an UPDATE or DELETE (TypeORM answers [rows, count] for those)', async () => {
    expect(await execute<{ id: number }>(db, sql`UPDATE sql_helper_t SET label = ${'uno'} WHERE id = ${1} RETURNING id`)).toEqual({
      rows: [{ id: 1 }],
      count: 1,
    });
    expect(await execute(db, sql`UPDATE sql_helper_t SET label = label WHERE id > ${0}`)).toEqual({ rows: [], count: 2 });
    expect(await queryRows<{ id: number }>(db, sql`DELETE FROM sql_helper_t WHERE id = ${2} RETURNING id`)).toEqual([{ id: 2 }]);
    expect(await execute(db, sql`DELETE FROM sql_helper_t WHERE id = ${99}`)).toEqual({ rows: [], count: 0 });
  });
});
