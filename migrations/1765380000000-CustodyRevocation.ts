import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A patient's revocation of a study's custody (StudyCustody's CustodyRevoked, sent by PatientLinks): the custody row
 * stays (the chain keeps the record, for history and misuse reports) and carries the block time and block of the
 * revocation. Written only by the indexer's exchange projection, like the rest of exchange_custody; a reorg deletes
 * and replays the study's events, so both columns go back to NULL with the revocation they came from.
 */
export class CustodyRevocation1765380000000 implements MigrationInterface {
  name = 'CustodyRevocation1765380000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE exchange_custody ADD COLUMN revoked_at bigint, ADD COLUMN revoked_block bigint`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE exchange_custody DROP COLUMN revoked_block, DROP COLUMN revoked_at`);
  }
}
