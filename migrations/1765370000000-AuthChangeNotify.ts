import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The API caches sessions and roles in process for a short while (apps/api/src/auth/auth-cache.ts); these triggers
 * tell every API instance at once when the facts its roles come from change, so a revoked credential, role or RO
 * membership stops working as soon as the indexer (or an admin) commits it, not when a cached entry runs out.
 * One notification per statement, not per row (the API then forgets every cached role set: role changes are rare,
 * and a backfill writing thousands of rows sends one per batch). Logout notifies from its own statement
 * (AuthRepository.deleteSession), with the session's token hash.
 */
export class AuthChangeNotify1765370000000 implements MigrationInterface {
  name = 'AuthChangeNotify1765370000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION openread_roles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('openread_auth_changed', 'roles');
        RETURN NULL;
      END $$;
      CREATE TRIGGER credentials_roles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credentials
        FOR EACH STATEMENT EXECUTE FUNCTION openread_roles_changed();
      CREATE TRIGGER contract_roles_roles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contract_roles
        FOR EACH STATEMENT EXECUTE FUNCTION openread_roles_changed();
      CREATE TRIGGER ro_members_roles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ro_members
        FOR EACH STATEMENT EXECUTE FUNCTION openread_roles_changed();
      CREATE TRIGGER dao_votes_roles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dao_votes
        FOR EACH STATEMENT EXECUTE FUNCTION openread_roles_changed();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER dao_votes_roles_changed ON dao_votes;
      DROP TRIGGER ro_members_roles_changed ON ro_members;
      DROP TRIGGER contract_roles_roles_changed ON contract_roles;
      DROP TRIGGER credentials_roles_changed ON credentials;
      DROP FUNCTION openread_roles_changed();
    `);
  }
}
