import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MODALITIES, URGENCIES } from '../../../domain/src/codes.js';
import { BOUNTY_SQL, PARAMETER_JOINS, WorklistRow, toStudyRow } from './study.repository.js';

/** What the live worklist needs from the projections: what changed since a block, and who may see it. */
@Injectable()
export class StudyFeedRepository {
  constructor(private readonly db: DataSource) {}

  /** The highest block the projections of studies and parameters reflect. */
  async head(chainId: number): Promise<number> {
    const [r] = await this.db.query(
      `SELECT GREATEST((SELECT max(updated_block) FROM studies WHERE chain_id = $1),
                       (SELECT max(updated_block) FROM incentive_parameters WHERE chain_id = $1), 0) AS head`,
      [chainId],
    );
    return Number(r.head);
  }

  /**
   * Studies whose row changed after block `since` (up to `until`), with their bounty at `asOf`; and, when
   * `escalatedAfter` is given, open studies unchanged in that range whose bounty grew since chain time
   * `escalatedAfter` (a whole hour of waiting passed, or the parameters changed in the range).
   */
  async changes(chainId: number, since: number, until: number, asOf: number, escalatedAfter: number): Promise<{ changed: WorklistRow[]; escalated: WorklistRow[] }> {
    const toRow = (r: Record<string, any>) => ({ ...toStudyRow(r), currentBounty: BigInt(r.current_bounty) });
    const changed = await this.db.query(
      `SELECT s.*, ${BOUNTY_SQL} AS current_bounty FROM studies s ${PARAMETER_JOINS}
       WHERE s.chain_id = $1 AND s.updated_block > $2 AND s.updated_block <= $6 ORDER BY s.updated_block, s.study_id LIMIT 1000`,
      [chainId, since, asOf, MODALITIES, URGENCIES, until],
    );
    const escalated = await this.db.query(
      `SELECT s.*, ${BOUNTY_SQL} AS current_bounty FROM studies s ${PARAMETER_JOINS}
       WHERE s.chain_id = $1 AND s.status = 'OPEN' AND s.updated_block <= $2
         AND (div(GREATEST($3::bigint - s.posted_at, 0), 3600) > div(GREATEST($6::bigint - s.posted_at, 0), 3600)
              OR EXISTS (SELECT 1 FROM incentive_parameters p WHERE p.chain_id = $1 AND p.updated_block > $2 AND p.updated_block <= $7))
       ORDER BY s.study_id LIMIT 1000`,
      [chainId, since, asOf, MODALITIES, URGENCIES, escalatedAfter, until],
    );
    return { changed: changed.map(toRow), escalated: escalated.map(toRow) };
  }

  /** Which of `radiologists` may claim which of `studyIds` at `asOf`: the worklist's rule (credential, state, modality). */
  async eligiblePairs(chainId: number, radiologists: string[], studyIds: string[], asOf: number): Promise<Set<string>> {
    if (!radiologists.length || !studyIds.length) return new Set();
    const rows = await this.db.query(
      `SELECT c.radiologist, s.study_id FROM credentials c
       JOIN studies s ON s.chain_id = c.chain_id AND s.study_id = ANY($3::text[])
       WHERE c.chain_id = $1 AND c.radiologist = ANY($2::text[]) AND NOT c.revoked AND c.expires_at > $4
         AND s.patient_state = ANY(c.states) AND s.modality = ANY(c.modalities)`,
      [chainId, radiologists, studyIds, asOf],
    );
    return new Set(rows.map((r: Record<string, string>) => `${r.radiologist}:${r.study_id}`));
  }
}
