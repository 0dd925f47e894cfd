import { execute, sql } from '#db';
import { type Projection, keyParts, str } from './projection.js';

/** AccessControl roles on OpenRead's contracts (e.g. verifiers), into contract_roles: a row per contract/role/account. */
export const ROLE_EVENTS = ['RoleGranted', 'RoleRevoked'];

export const rolesProjection: Projection = {
  events: ROLE_EVENTS,
  entityOf: (e) => `role:${e.contract}:${e.args.role}:${e.args.account}`,
  runners: {
    // low volume: one statement per event (a run still touches each entity at most once)
    async RoleGranted(tx, chainId, run) {
      for (const e of run)
        await execute(
          tx,
          sql`INSERT INTO contract_roles (chain_id, contract, role, account, granted_by, updated_block)
         VALUES (${chainId}, ${e.contract}, ${str(e.args.role)}, ${str(e.args.account)}, ${str(e.args.sender)}, ${e.blockNumber})
         ON CONFLICT ON CONSTRAINT contract_roles_pk DO UPDATE
           SET granted_by = EXCLUDED.granted_by, updated_block = EXCLUDED.updated_block`,
        );
    },

    async RoleRevoked(tx, chainId, run) {
      for (const e of run)
        await execute(
          tx,
          sql`DELETE FROM contract_roles WHERE chain_id = ${chainId} AND contract = ${e.contract} AND role = ${str(e.args.role)} AND account = ${str(e.args.account)}`,
        );
    },
  },
  async deleteEntities(tx, chainId, keys) {
    const roles = keyParts(keys, 'role');
    if (!roles.length) return;
    const [contracts, roleIds, accounts] = [roles.map((p) => p[0]), roles.map((p) => p[1]), roles.map((p) => p[2])];
    await execute(
      tx,
      sql`DELETE FROM contract_roles t USING (SELECT unnest(${contracts}::text[]) AS contract, unnest(${roleIds}::text[]) AS role, unnest(${accounts}::text[]) AS account) AS v
       WHERE t.chain_id = ${chainId} AND t.contract = v.contract AND t.role = v.role AND t.account = v.account`,
    );
  },
};
