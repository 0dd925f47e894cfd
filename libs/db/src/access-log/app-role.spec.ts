import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../testing/test-database.js';

/**
 * The apps run as a login role granted `openread_app` (migration AppRole): it reads and writes rows but owns
 * nothing, so it can neither switch off the access log's append-only trigger nor rewrite the log.
 */
describe('the apps database role', () => {
  let db: { url: string; drop(): Promise<void> };
  let owner: pg.Client;
  let app: pg.Client;
  const login = `openread_app_test_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    owner = new pg.Client({ connectionString: db.url });
    await owner.connect();
    await owner.query(`CREATE ROLE ${login} LOGIN IN ROLE openread_app`);
    const url = new URL(db.url);
    url.username = login;
    app = new pg.Client({ connectionString: url.toString() });
    await app.connect();
  });
  afterAll(async () => {
    await app?.end();
    await owner?.end();
    await db?.drop();
    const admin = new pg.Client({ connectionString: process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${login}`);
    await admin.end();
  });

  it('writes the access log but cannot disable its trigger, alter, truncate or rewrite it', async () => {
    const row = await app.query(
      `INSERT INTO study_access_log (seq, chain_id, study_id, account, action, outcome, reason, at_ms, prev_hash, hash)
       VALUES (0, 1, $1, $2, 'FETCH_PAYLOAD', 'REFUSED', 'NOT_CLAIMANT', 0, '', '') RETURNING seq`,
      [`0x${'00'.repeat(32)}`, `0x${'00'.repeat(20)}`],
    );
    expect(Number(row.rows[0].seq)).toBe(1);
    await expect(app.query(`ALTER TABLE study_access_log DISABLE TRIGGER study_access_log_no_update`)).rejects.toThrow(
      /must be (the )?owner/,
    );
    await expect(app.query(`ALTER TABLE study_access_log DISABLE TRIGGER ALL`)).rejects.toThrow(/must be (the )?owner/);
    await expect(app.query(`DROP TRIGGER study_access_log_no_update ON study_access_log`)).rejects.toThrow(/must be (the )?owner/);
    await expect(app.query(`UPDATE study_access_log SET at_ms = 1`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`DELETE FROM study_access_log`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`TRUNCATE study_access_log`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`SET session_replication_role = replica`)).rejects.toThrow(/permission denied/);
    // the owner (migrations) still can: that is the role a deployment keeps away from the apps
    await owner.query(`ALTER TABLE study_access_log DISABLE TRIGGER study_access_log_no_update`);
    await owner.query(`ALTER TABLE study_access_log ENABLE TRIGGER study_access_log_no_update`);
  });

  it('reads and writes the tables the apps use, including those of later migrations', async () => {
    await app.query(`INSERT INTO auth_nonces (nonce, expires_at) VALUES ('n1', now() + interval '1 minute')`);
    expect((await app.query(`SELECT count(*)::int AS n FROM auth_nonces`)).rows[0].n).toBe(1);
    await app.query(`DELETE FROM auth_nonces`);
    await app.query(`UPDATE encryption_keys SET binding = NULL WHERE false`);
    await expect(app.query(`ALTER TABLE auth_nonces ADD COLUMN x int`)).rejects.toThrow(/must be (the )?owner/);
  });
});
