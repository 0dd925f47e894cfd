import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runMigrations } from '../data-source.js';

/**
 * A throwaway database on the machine's Postgres (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres),
 * schema by migrations (run as the owner: `url`), dropped by `drop()`. One per test file. `appUrl` connects as a
 * login role of its own granted `openread_app` (migration AppRole), as a deployment runs the apps: it owns nothing, so
 * it cannot alter tables or switch off the access log's append-only trigger. `drop()` drops that role too.
 */
export async function createTestDatabase(): Promise<{ url: string; appUrl: string; drop(): Promise<void> }> {
  const adminUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `openread_test_${randomBytes(6).toString('hex')}`;
  const login = `${name}_app`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await runMigrations(url.toString());
  const owner = new pg.Client({ connectionString: url.toString() });
  await owner.connect();
  await owner.query(`CREATE ROLE ${login} LOGIN IN ROLE openread_app`).finally(() => owner.end());
  const appUrl = new URL(url);
  appUrl.username = login;
  appUrl.password = '';
  return {
    url: url.toString(),
    appUrl: appUrl.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${login}`);
      } finally {
        await c.end();
      }
    },
  };
}
