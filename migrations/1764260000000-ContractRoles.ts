import { MigrationInterface, QueryRunner } from 'typeorm';

/** AccessControl roles granted on OpenRead's contracts (indexed RoleGranted / RoleRevoked), e.g. verifiers. */
export class ContractRoles1764260000000 implements MigrationInterface {
  name = 'ContractRoles1764260000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE contract_roles (
        chain_id      integer     NOT NULL,
        contract      eth_address NOT NULL,
        role          bytes32     NOT NULL,
        account       eth_address NOT NULL,
        granted_by    eth_address NOT NULL,
        updated_block bigint      NOT NULL,
        CONSTRAINT contract_roles_pk PRIMARY KEY (chain_id, contract, role, account)
      );
      CREATE INDEX contract_roles_account_idx ON contract_roles (chain_id, account);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE contract_roles`);
  }
}
