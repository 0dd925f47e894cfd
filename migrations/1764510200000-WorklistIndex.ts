import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The worklist at scale (issue 6, `npm run bench`): open studies by patient state and modality, so a radiologist's
 * eligible studies are a bitmap index scan instead of a scan of every open study (see README, "Bench").
 */
export class WorklistIndex1764510200000 implements MigrationInterface {
  name = 'WorklistIndex1764510200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX studies_open_eligibility_idx ON studies (chain_id, patient_state, modality) WHERE status = 'OPEN'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX studies_open_eligibility_idx`);
  }
}
