import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { eligibleSql } from '../credentials/eligibility.js';
import { empty, queryRows, raw, sql } from '../sql.js';
import { BOUNTY_PARAMETER_NAMES, bountySql } from './worklist-bounds.js';
import { PARAMETER_JOINS, type WorklistDbRow, type WorklistRow, bountyAtSql, toWorklistRow } from './study.repository.js';

/**
 * A position in the indexed event log: a chain_events ID. IDs grow in the order events are stored, so events of a
 * new branch stored after a reorg come after the position even when their blocks are lower: none is skipped.
 */
export type FeedPosition = number;

/** The events that change what a worklist shows: a study appears, is taken, comes back; the bounty parameters change. */
const FEED_EVENTS = ['StudyPosted', 'StudyClaimed', 'LeaseExpired', 'ParameterUpdated'];

/**
 * What the live worklist needs from the database, read in pages so nothing is ever cut off:
 * - `changes`: the indexed events after a position (chain_events IDs grow in the order events are stored), the
 *   studies they touched as they are now, and whether a bounty parameter changed;
 * - `escalated`: open studies whose bounty grew between two chain times because another whole hour of waiting
 *   began (found through studies_open_hour_idx: a study's hours tick over at its posted_at modulo 3600);
 * - `eligiblePairs`: who may see which study (the worklist's rule).
 */
@Injectable()
export class StudyFeedRepository {
  constructor(private readonly db: DataSource) {}

  /** The newest indexed event's position (0 before the first). */
  async head(chainId: number): Promise<FeedPosition> {
    const [r] = await queryRows<{ id: string }>(
      this.db,
      sql`SELECT coalesce(max(id), 0) AS id FROM chain_events WHERE chain_id = ${chainId}`,
    );
    return Number(r.id);
  }

  /**
   * One page (≤ `limit` events) of the feed's events in (after, until], in the order they were stored: the studies
   * they touched (their current rows, bounty at `asOf`), whether a bounty parameter changed, and the position of the
   * last event read (null: none). `full` means the page was full: more may follow.
   */
  async changes(
    chainId: number,
    after: FeedPosition,
    until: FeedPosition,
    asOf: number,
    limit: number,
  ): Promise<{ studies: WorklistRow[]; parametersChanged: boolean; last: FeedPosition | null; full: boolean }> {
    const events = await queryRows<{ id: string; name: string; study_id: string | null; param: string | null }>(
      this.db,
      sql`SELECT id, name, args->>'studyId' AS study_id, args->>'name' AS param FROM chain_events
       WHERE chain_id = ${chainId} AND id > ${after} AND id <= ${until} AND name = ANY(${FEED_EVENTS}::text[])
       ORDER BY id LIMIT ${limit}`,
    );
    const ids = [...new Set(events.map((e) => e.study_id).filter((id): id is string => id !== null))];
    const studies = ids.length
      ? await queryRows<WorklistDbRow>(
          this.db,
          sql`SELECT s.*, ${bountyAtSql(asOf)} AS current_bounty FROM studies s ${PARAMETER_JOINS}
           WHERE s.chain_id = ${chainId} AND s.study_id = ANY(${ids}::text[]) ORDER BY s.study_id`,
        )
      : [];
    const last = events.at(-1);
    return {
      studies: studies.map(toWorklistRow),
      parametersChanged: events.some((e) => e.name === 'ParameterUpdated' && BOUNTY_PARAMETER_NAMES.includes(e.param ?? '')),
      last: last ? Number(last.id) : null,
      full: events.length === limit,
    };
  }

  /**
   * One page (by study ID, after `afterId`) of the open studies whose bounty at chain time `to` is higher than at
   * `from` because a whole hour of waiting began in (from, to]; their bounty at `to`.
   */
  async escalated(chainId: number, from: number, to: number, afterId: string | null, limit: number): Promise<WorklistRow[]> {
    if (to <= from) return [];
    // the hour of a study posted at p ticks over at times t ≡ p (mod 3600): those in (from, to] are the residues
    // (from mod 3600, to mod 3600], circularly; a window of an hour or more contains every residue
    const [lo, hi] = [from % 3600, to % 3600];
    const residue =
      to - from >= 3600
        ? empty
        : lo < hi
          ? sql`AND (s.posted_at % 3600) > ${lo} AND (s.posted_at % 3600) <= ${hi}`
          : sql`AND ((s.posted_at % 3600) > ${lo} OR (s.posted_at % 3600) <= ${hi})`;
    const [fromTime, toTime] = [sql`${from}::bigint`, sql`${to}::bigint`];
    const at = (t: typeof toTime) => bountySql({ base: raw('b.value'), urgency: raw('u.value'), escalation: raw('esc.value'), asOf: t });
    const rows = await queryRows<WorklistDbRow>(
      this.db,
      sql`SELECT s.*, ${at(toTime)} AS current_bounty FROM studies s ${PARAMETER_JOINS}
       WHERE s.chain_id = ${chainId} AND s.status = 'OPEN' AND (${afterId}::text IS NULL OR s.study_id > ${afterId}::text) ${residue}
         AND div(GREATEST(${toTime} - s.posted_at, 0), 3600) > div(GREATEST(${fromTime} - s.posted_at, 0), 3600)
         AND ${at(toTime)} > ${at(fromTime)}
       ORDER BY s.study_id LIMIT ${limit}`,
    );
    return rows.map(toWorklistRow);
  }

  /** Which of `radiologists` may claim which of `studyIds` at `asOf`: the worklist's rule (credential, state, modality). */
  async eligiblePairs(chainId: number, radiologists: string[], studyIds: string[], asOf: number): Promise<Set<string>> {
    if (!radiologists.length || !studyIds.length) return new Set();
    const rows = await queryRows<{ radiologist: string; study_id: string }>(
      this.db,
      sql`SELECT c.radiologist, s.study_id FROM credentials c
       JOIN studies s ON s.chain_id = c.chain_id AND s.study_id = ANY(${studyIds}::text[])
       WHERE c.chain_id = ${chainId} AND c.radiologist = ANY(${radiologists}::text[])
         AND ${eligibleSql({ credential: 'c', state: 's.patient_state', modality: 's.modality', asOf })}`,
    );
    return new Set(rows.map((r) => `${r.radiologist}:${r.study_id}`));
  }
}
