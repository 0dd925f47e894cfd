import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bounty ceilings for the worklist at scale (issue 6; libs/db/src/repositories/worklist-bounds.ts explains them):
 *
 * - `studies.bounty_ceiling` (NULL: no tighter bound than max_bounty), `ceiling_until`, `ceiling_gen`: written only
 *   by the indexer's bounds refresher, for open studies.
 * - `worklist_bounds`: per chain, the generation and parameters digest the ceilings were computed with and the
 *   chain time through which every open study's ceiling holds (`valid_until`), plus the state of a refresh under way.
 * - A trigger clears a study's ceiling whenever the study (re)enters OPEN or its bounty inputs change, so no
 *   other writer can leave a stale ceiling behind (a cleared ceiling means max_bounty: always a valid bound); a new
 *   study with a ceiling is refused.
 * - Indexes: open studies by (state, modality, urgency, ceiling DESC) for the BOUNTY_DESC page, and by (state, modality,
 *   posted_at) for the WAITING_DESC page (ties are sorted by study ID on the few rows read; leaving the 66-byte ID
 *   out of both keeps the indexer's inserts cheap). They replace studies_open_eligibility_idx (their prefix) and
 *   studies_open_idx (open studies by posted_at alone: nothing reads that order any more).
 */
export class WorklistBounds1764700000000 implements MigrationInterface {
  name = 'WorklistBounds1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE studies
        ADD COLUMN bounty_ceiling uint256,
        ADD COLUMN ceiling_until  bigint,
        ADD COLUMN ceiling_gen    integer;

      CREATE TABLE worklist_bounds (
        chain_id        integer PRIMARY KEY,
        gen             integer NOT NULL DEFAULT 0,
        params_digest   text,
        valid_until     bigint,
        refreshed_at    timestamptz,
        -- a refresh under way (NULL when none): its generation, digest, horizon and cursor (the last study ID done)
        refresh_gen     integer,
        refresh_digest  text,
        refresh_until   bigint,
        refresh_after_id text,
        CONSTRAINT worklist_bounds_refresh_whole CHECK (
          (refresh_gen IS NULL) = (refresh_digest IS NULL) AND (refresh_gen IS NULL) = (refresh_until IS NULL))
      );

      CREATE FUNCTION studies_clear_ceiling() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.bounty_ceiling := NULL;
        NEW.ceiling_until := NULL;
        NEW.ceiling_gen := NULL;
        RETURN NEW;
      END $$;

      -- WHEN is evaluated without calling the function, so the common updates (claim, report, settle) cost nothing
      CREATE TRIGGER studies_clear_ceiling_on_update BEFORE UPDATE ON studies FOR EACH ROW
        WHEN ((NEW.bounty_ceiling IS NOT NULL OR NEW.ceiling_until IS NOT NULL OR NEW.ceiling_gen IS NOT NULL) AND (
              (NEW.status = 'OPEN' AND OLD.status <> 'OPEN')
              OR NEW.max_bounty <> OLD.max_bounty OR NEW.modality <> OLD.modality OR NEW.urgency <> OLD.urgency
              OR NEW.difficulty_bps <> OLD.difficulty_bps OR NEW.posted_at <> OLD.posted_at))
        EXECUTE FUNCTION studies_clear_ceiling();
      -- a new study never carries a ceiling: refused. AFTER, not BEFORE: a BEFORE ROW trigger would make the
      -- indexer's COPY of new studies insert row by row instead of in batches
      CREATE FUNCTION studies_refuse_ceiling() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'a new study carries no bounty ceiling (only the worklist bounds refresher writes one)'
          USING ERRCODE = 'check_violation';
      END $$;
      CREATE TRIGGER studies_refuse_ceiling_on_insert AFTER INSERT ON studies FOR EACH ROW
        WHEN (NEW.bounty_ceiling IS NOT NULL OR NEW.ceiling_until IS NOT NULL OR NEW.ceiling_gen IS NOT NULL)
        EXECUTE FUNCTION studies_refuse_ceiling();

      DROP INDEX studies_open_eligibility_idx;
      -- nothing reads open studies in global posted_at order any more (the worklist reads per combination, the
      -- refresher by study ID): one index less for every posting to maintain
      DROP INDEX studies_open_idx;
      CREATE INDEX studies_open_ceiling_idx ON studies (chain_id, patient_state, modality, urgency, (COALESCE(bounty_ceiling, max_bounty)) DESC)
        WHERE status = 'OPEN';
      CREATE INDEX studies_open_waiting_idx ON studies (chain_id, patient_state, modality, posted_at)
        WHERE status = 'OPEN';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX studies_open_waiting_idx;
      DROP INDEX studies_open_ceiling_idx;
      CREATE INDEX studies_open_eligibility_idx ON studies (chain_id, patient_state, modality) WHERE status = 'OPEN';
      CREATE INDEX studies_open_idx ON studies (chain_id, posted_at, study_id) WHERE status = 'OPEN';
      DROP TRIGGER studies_refuse_ceiling_on_insert ON studies;
      DROP FUNCTION studies_refuse_ceiling();
      DROP TRIGGER studies_clear_ceiling_on_update ON studies;
      DROP FUNCTION studies_clear_ceiling();
      DROP TABLE worklist_bounds;
      ALTER TABLE studies DROP COLUMN bounty_ceiling, DROP COLUMN ceiling_until, DROP COLUMN ceiling_gen;
    `);
  }
}
