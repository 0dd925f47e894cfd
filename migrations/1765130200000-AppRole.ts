import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The apps' database role (issue 13, item 7): `openread_app`, with DML grants only. Migrations run as the owner
 * (DATABASE_MIGRATION_URL, default DATABASE_URL); a deployment that separates them runs the apps as a login role
 * granted `openread_app` (`CREATE ROLE api LOGIN PASSWORD … IN ROLE openread_app`), which owns nothing: it cannot
 * ALTER, DISABLE TRIGGER, DROP or TRUNCATE, and on study_access_log it may only SELECT and INSERT, so the
 * append-only trigger cannot be switched off from the apps' connections. Roles are per cluster: the role is created
 * once (another database of the cluster may have made it, even concurrently) and never dropped by `down`.
 * Tables and sequences created by later migrations get the same grants (default privileges of the migrating role).
 */
export class AppRole1765130200000 implements MigrationInterface {
  name = 'AppRole1765130200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$ BEGIN
        CREATE ROLE openread_app NOLOGIN;
      EXCEPTION WHEN OTHERS THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'openread_app') THEN RAISE; END IF;
      END $$`);
    await q.query(`GRANT USAGE ON SCHEMA public TO openread_app`);
    await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO openread_app`);
    await q.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO openread_app`);
    await q.query(`REVOKE UPDATE, DELETE ON study_access_log FROM openread_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO openread_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO openread_app`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM openread_app`);
    await q.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM openread_app`);
    await q.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM openread_app`);
    await q.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM openread_app`);
    await q.query(`REVOKE USAGE ON SCHEMA public FROM openread_app`);
  }
}
