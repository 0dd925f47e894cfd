import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MODALITIES, URGENCIES } from '#domain';
import { eligibleSql } from '../credentials/eligibility.js';
import { BOUNDS_HOLD_SQL, bountyFromParamsSql, bountySql, paramsCte } from './worklist-bounds.js';
import { queryRows, sql } from '../sql.js';

export interface StudyRow {
  studyId: string;
  ro: string;
  modality: string;
  difficultyBps: number;
  urgency: string;
  patientState: string;
  maxBounty: bigint;
  postedAt: number;
  status: string;
  radiologist: string | null;
  lockedBounty: bigint | null;
  feeBps: number | null;
  claimedAt: number | null;
  leaseExpiresAt: number | null;
  reportHash: string | null;
  reportedAt: number | null;
  disputeDeadline: number | null;
  payout: bigint | null;
  fee: bigint | null;
  refund: bigint | null;
  settledAt: number | null;
  postedTx: string;
  updatedBlock: number;
}

export interface WorklistRow extends StudyRow {
  /** bounty at `asOf`, computed in SQL by the contract's formula */
  currentBounty: bigint;
}

export type WorklistSort = 'BOUNTY_DESC' | 'WAITING_DESC';

export interface WorklistQuery {
  chainId: number;
  radiologist: string;
  /** chain time (unix s) at which eligibility and bounties are evaluated */
  asOf: number;
  modalities?: string[];
  states?: string[];
  urgencies?: string[];
  minBounty?: bigint;
  sort: WorklistSort;
  /** keyset: the last row of the previous page */
  after?: { bounty: bigint; postedAt: number; studyId: string };
  limit: number;
}

const optBig = (v: string | null) => (v === null ? null : BigInt(v));
const optNum = (v: string | number | null) => (v === null ? null : Number(v));

export function toStudyRow(r: Record<string, any>): StudyRow {
  return {
    studyId: r.study_id,
    ro: r.ro,
    modality: r.modality,
    difficultyBps: Number(r.difficulty_bps),
    urgency: r.urgency,
    patientState: r.patient_state,
    maxBounty: BigInt(r.max_bounty),
    postedAt: Number(r.posted_at),
    status: r.status,
    radiologist: r.radiologist,
    lockedBounty: optBig(r.locked_bounty),
    feeBps: optNum(r.fee_bps),
    claimedAt: optNum(r.claimed_at),
    leaseExpiresAt: optNum(r.lease_expires_at),
    reportHash: r.report_hash,
    reportedAt: optNum(r.reported_at),
    disputeDeadline: optNum(r.dispute_deadline),
    payout: optBig(r.payout),
    fee: optBig(r.fee),
    refund: optBig(r.refund),
    settledAt: optNum(r.settled_at),
    postedTx: r.posted_tx,
    updatedBlock: Number(r.updated_block),
  };
}

/** The bounty of study `s` at chain time $3, with the parameters joined by PARAMETER_JOINS (see bountySql). */
export const BOUNTY_SQL = bountySql({ base: 'b.value', urgency: 'u.value', escalation: 'esc.value', asOf: '$3::bigint' });

/** Joins that bring the parameters each study's bounty needs ($1 chain id, $4 modality names, $5 urgency names). */
export const PARAMETER_JOINS = `
  JOIN incentive_parameters b   ON b.chain_id = s.chain_id AND b.name = 'baseBounty'
                               AND b.key = array_position($4::text[], s.modality) - 1
  JOIN incentive_parameters u   ON u.chain_id = s.chain_id AND u.name = 'urgencyMultiplierBps'
                               AND u.key = array_position($5::text[], s.urgency) - 1
  JOIN incentive_parameters esc ON esc.chain_id = s.chain_id AND esc.name = 'escalationBpsPerHour' AND esc.key = 0`;

/** How a worklist page was found (the bench and the tests look at it). */
export type WorklistPath = 'CEILINGS' | 'PER_COMBINATION' | 'FULL';

@Injectable()
export class StudyRepository {
  constructor(private readonly db: DataSource) {}

  async findById(chainId: number, studyId: string): Promise<StudyRow | null> {
    const rows = await queryRows(this.db, sql`SELECT * FROM studies WHERE chain_id = ${chainId} AND study_id = ${studyId}`);
    return rows.length ? toStudyRow(rows[0]) : null;
  }

  /** Current bounty of one study at chain time `asOf` (null if the study is unknown). */
  async currentBounty(chainId: number, studyId: string, asOf: number): Promise<bigint | null> {
    const rows = await this.db.query(
      `SELECT ${BOUNTY_SQL} AS bounty FROM studies s ${PARAMETER_JOINS} WHERE s.chain_id = $1 AND s.study_id = $2`,
      [chainId, studyId, asOf, MODALITIES, URGENCIES],
    );
    return rows.length ? BigInt(rows[0].bounty) : null;
  }

  /**
   * Open studies the radiologist is eligible for at `asOf` (credential valid, licensed in the patient's state,
   * modality covered — the same rule CredentialRegistry.isEligible enforces at claim): one keyset page.
   */
  async worklist(q: WorklistQuery): Promise<WorklistRow[]> {
    return (await this.worklistPage(q)).rows;
  }

  /**
   * The worklist page and how it was found. One REPEATABLE READ snapshot for the credential, the check of the
   * bounty ceilings and the page. Three ways, one answer (study.repository.spec.ts compares them):
   * - WAITING_DESC (PER_COMBINATION): for each (state, modality) the radiologist may read, the first N open studies
   *   by (posted_at, study_id) from studies_open_waiting_idx; merged, first N. Waiting time needs no bound.
   * - BOUNTY_DESC while the ceilings hold (CEILINGS, see worklist-bounds.ts): a lower bound θ of the page's last
   *   bounty from the N highest ceilings of each combination, then every study whose ceiling is ≥ θ
   *   (studies_open_ceiling_idx), exact bounties, sorted.
   * - BOUNTY_DESC otherwise (FULL): the bounty of every eligible open study, sorted. Correct whatever the ceilings;
   *   slow for radiologists with tens of thousands of eligible studies.
   */
  async worklistPage(q: WorklistQuery, opts: { explain?: boolean } = {}): Promise<{ rows: WorklistRow[]; path: WorklistPath; plan?: string[] }> {
    return this.db.transaction('REPEATABLE READ', async (tx) => {
      // the (state, modality) combinations the eligibility rule admits for this radiologist at asOf (none: no live
      // credential); the study queries below probe the studies indexes once per combination
      const [me] = await tx.query(
        // whether the ceilings hold matters only to BOUNTY_DESC (WAITING_DESC needs no bound)
        `SELECT array_agg(DISTINCT st) AS states, array_agg(DISTINCT m) AS modalities,
                ${q.sort === 'BOUNTY_DESC' ? BOUNDS_HOLD_SQL('$3::bigint') : 'false'} AS bounded
         FROM credentials c CROSS JOIN LATERAL unnest(c.states::text[]) AS st CROSS JOIN LATERAL unnest(c.modalities::text[]) AS m
         WHERE c.chain_id = $1 AND c.radiologist = $2 AND ${eligibleSql({ credential: 'c', state: 'st', modality: 'm', asOf: '$3' })}`,
        [q.chainId, q.radiologist, q.asOf],
      );
      const path: WorklistPath = q.sort === 'WAITING_DESC' ? 'PER_COMBINATION' : me?.bounded ? 'CEILINGS' : 'FULL';
      if (!me?.states) return { rows: [], path };
      const states = (me.states as string[]).filter((st) => !q.states?.length || q.states.includes(st));
      const modalities = (me.modalities as string[]).filter((m) => !q.modalities?.length || q.modalities.includes(m));
      if (!states.length || !modalities.length) return { rows: [], path };

      const urgencies = URGENCIES.filter((u) => !q.urgencies?.length || q.urgencies.includes(u));
      if (!urgencies.length) return { rows: [], path };
      // $1 chain, $2 the states, $3 asOf, $4 modality names, $5 urgency names (BOUNTY_SQL's places), $6 the modalities,
      // $7 the urgencies, $8 the page size
      const params: unknown[] = [q.chainId, states, q.asOf, MODALITIES, URGENCIES, modalities, urgencies, q.limit];
      const p = (v: unknown, cast: string) => {
        params.push(v);
        return `$${params.length}::${cast}`;
      };
      const min = q.minBounty !== undefined ? p(q.minBounty.toString(), 'numeric') : null;
      // the cursor's parts become parameters only where a query uses them (Postgres refuses unused ones)
      const once = (v: unknown, cast: string) => {
        let name: string | undefined;
        return () => (name ??= p(v, cast));
      };
      const a = q.after;
      const [idOf, bountyOf, postedOf] = [once(a?.studyId, 'text'), once(a?.bounty.toString(), 'numeric'), once(a?.postedAt, 'bigint')];
      let sql: string;
      if (path === 'FULL') {
        const outer: string[] = [];
        if (min) outer.push(`w.current_bounty >= ${min}`);
        if (a) outer.push(`(w.current_bounty < ${bountyOf()} OR (w.current_bounty = ${bountyOf()} AND w.study_id > ${idOf()}))`);
        sql = `WITH w AS (
             SELECT s.*, ${BOUNTY_SQL} AS current_bounty
             FROM studies s ${PARAMETER_JOINS}
             WHERE s.chain_id = $1 AND s.status = 'OPEN'
               AND s.patient_state = ANY($2::bpchar[]) AND s.modality = ANY($6::text[]) AND s.urgency = ANY($7::text[])
           )
           SELECT * FROM w ${outer.length ? `WHERE ${outer.join(' AND ')}` : ''}
           ORDER BY w.current_bounty DESC, w.study_id ASC LIMIT $8`;
      } else {
        const bounty = bountyFromParamsSql('$4', '$5', '$3::bigint');
        // a study whose parameters are missing has no bounty and is not listed (as the joins of FULL drop it)
        const priced = `p.base[array_position($4::text[], s.modality)] IS NOT NULL AND p.urg[array_position($5::text[], s.urgency)] IS NOT NULL AND p.esc IS NOT NULL`;
        const withParams = `p AS (${paramsCte('$4', '$5')})`;
        if (path === 'PER_COMBINATION') {
          sql = `WITH ${withParams},
             c AS (SELECT st::bpchar AS st, m FROM unnest($2::text[]) AS st CROSS JOIN unnest($6::text[]) AS m)
             SELECT x.* FROM c CROSS JOIN LATERAL (
               SELECT s.*, ${bounty} AS current_bounty FROM studies s CROSS JOIN p
               WHERE s.chain_id = $1 AND s.status = 'OPEN' AND s.patient_state = c.st AND s.modality = c.m
                 AND s.urgency = ANY($7::text[]) AND ${priced}
                 ${a ? `AND (s.posted_at, s.study_id) > (${postedOf()}, ${idOf()})` : ''}
                 ${min ? `AND s.max_bounty >= ${min} AND ${bounty} >= ${min}` : ''}
               ORDER BY s.posted_at, s.study_id LIMIT $8
             ) x
             ORDER BY x.posted_at, x.study_id LIMIT $8`;
        } else {
          // combinations of (state, modality, urgency), so an urgency filter narrows the index ranges instead of
          // discarding rows read from them
          const ceiling = 'COALESCE(s.bounty_ceiling, s.max_bounty)';
          const inCombination = `s.chain_id = $1 AND s.status = 'OPEN' AND s.patient_state = c.st AND s.modality = c.m AND s.urgency = c.u AND ${priced}`;
          const keyset = (e: string, id: string) => (a ? `AND (${e} < ${bountyOf()} OR (${e} = ${bountyOf()} AND ${id} > ${idOf()}))` : '');
          sql = `WITH ${withParams},
             c AS (SELECT st::bpchar AS st, m, u FROM unnest($2::text[]) AS st CROSS JOIN unnest($6::text[]) AS m CROSS JOIN unnest($7::text[]) AS u),
             seed AS (
               -- the N highest ceilings of each combination (after the cursor): their exact bounties give θ
               SELECT x.e FROM c CROSS JOIN LATERAL (
                 SELECT ${bounty} AS e, s.study_id FROM studies s CROSS JOIN p
                 WHERE ${inCombination}
                   ${a ? `AND ${ceiling} <= ${bountyOf()} AND (${ceiling} < ${bountyOf()} OR s.study_id > ${idOf()})` : ''}
                 ORDER BY ${ceiling} DESC, s.study_id LIMIT $8
               ) x
               WHERE true ${keyset('x.e', 'x.study_id')} ${min ? `AND x.e >= ${min}` : ''}
             ),
             theta AS (
               SELECT GREATEST(COALESCE((SELECT e FROM seed ORDER BY e DESC LIMIT 1 OFFSET $8::int - 1), 0)${min ? `, ${min}` : ''}) AS t
             )
             SELECT y.* FROM c CROSS JOIN LATERAL (
               SELECT s.*, ${bounty} AS current_bounty FROM studies s CROSS JOIN p
               WHERE ${inCombination} AND ${ceiling} >= (SELECT t FROM theta)
             ) y
             WHERE true ${keyset('y.current_bounty', 'y.study_id')} ${min ? `AND y.current_bounty >= ${min}` : ''}
             ORDER BY y.current_bounty DESC, y.study_id ASC LIMIT $8`;
        }
      }
      if (opts.explain) {
        const plan = await tx.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`, params);
        return { rows: [], path, plan: plan.map((r: Record<string, string>) => r['QUERY PLAN']) };
      }
      const rows = await tx.query(sql, params);
      return { rows: rows.map((r: Record<string, any>) => ({ ...toStudyRow(r), currentBounty: BigInt(r.current_bounty) })), path };
    });
  }

  async claimsOf(chainId: number, radiologist: string, limit: number): Promise<StudyRow[]> {
    const rows = await queryRows(this.db, sql`SELECT * FROM studies WHERE chain_id = ${chainId} AND radiologist = ${radiologist} ORDER BY claimed_at DESC, study_id LIMIT ${limit}`);
    return rows.map(toStudyRow);
  }

  /** Studies whose timers are due at chain time `now`: settle after the dispute window, release after the lease. */
  async due(chainId: number, now: number, limit = 100): Promise<{ studyId: string; action: 'SETTLE' | 'RELEASE' }[]> {
    const rows = await queryRows(this.db, sql`(SELECT study_id, 'SETTLE' AS action FROM studies
         WHERE chain_id = ${chainId} AND status = 'REPORTED' AND dispute_deadline <= ${now} ORDER BY dispute_deadline LIMIT ${limit})
       UNION ALL
       (SELECT study_id, 'RELEASE' AS action FROM studies
         WHERE chain_id = ${chainId} AND status = 'CLAIMED' AND lease_expires_at < ${now} ORDER BY lease_expires_at LIMIT ${limit})`);
    return rows.map((r: Record<string, any>) => ({ studyId: r.study_id, action: r.action }));
  }

  async isEligible(chainId: number, radiologist: string, studyId: string, asOf: number): Promise<boolean> {
    const rows = await this.db.query(
      `SELECT 1 FROM studies s JOIN credentials c ON c.chain_id = s.chain_id AND c.radiologist = $2
       WHERE s.chain_id = $1 AND s.study_id = $3
         AND ${eligibleSql({ credential: 'c', state: 's.patient_state', modality: 's.modality', asOf: '$4' })}`,
      [chainId, radiologist, studyId, asOf],
    );
    return rows.length > 0;
  }

  async parameters(chainId: number): Promise<{ name: string; key: number; value: bigint; updatedBlock: number }[]> {
    const rows = await queryRows(this.db, sql`SELECT name, key, value, updated_block FROM incentive_parameters WHERE chain_id = ${chainId} ORDER BY name, key`);
    return rows.map((r: Record<string, any>) => ({
      name: r.name,
      key: Number(r.key),
      value: BigInt(r.value),
      updatedBlock: Number(r.updated_block),
    }));
  }
}
