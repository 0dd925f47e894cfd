// The studies aggregate (libs/db/src/studies): tables `studies`, `incentive_parameters`, `worklist_bounds`, and
// the RO's off-chain side (study_postings, study_payloads, study_leases, study_reports: study-vault.repository.ts).
// Who writes what — the read side here never writes an indexed table:
// - studies, event columns (study_id … updated_block, status, radiologist, locked_bounty, fee_bps, claimed_at,
//   lease_expires_at, report_hash, reported_at, dispute_deadline, payout, fee, refund, settled_at, posted_tx,
//   posted_block): the indexer's projection apps/indexer/src/store/projections/studies.projection.ts (COPY for
//   StudyPosted, set-based UPDATEs for the rest); a reorg deletes the touched rows and replays their events
//   (apps/indexer/src/store/event-store.ts rollback).
// - studies.bounty_ceiling, ceiling_until, ceiling_gen: written only by apps/indexer/src/store/bounds-refresher.ts;
//   cleared by the trigger studies_clear_ceiling_on_update (migration WorklistBounds) when a study is OPEN again or
//   its bounty inputs change; a new row carrying one is refused by studies_refuse_ceiling_on_insert. Read by the
//   worklist's CEILINGS path (see worklist-bounds.ts for why that is safe).
// - worklist_bounds: bounds-refresher.ts only. incentive_parameters: projections/parameters.projection.ts.
// - study_postings, study_payloads, study_leases, study_reports: StudyVaultRepository (the API), insert-only.
//   (study_leases: a lease from before per-claim packages, ciphertext NULL, is replaced once by its claim's package.)
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MODALITIES, URGENCIES } from '#domain';
import { eligibleSql } from '../credentials/eligibility.js';
import { type Sql, empty, join, queryRows, raw, sql } from '../sql.js';
import { boundsHoldSql, bountyFromParamsSql, bountySql, paramsCte } from './worklist-bounds.js';

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

/** A row of `studies` as Postgres returns it (numeric and bigint columns as strings). */
export interface StudyDbRow {
  study_id: string;
  ro: string;
  modality: string;
  difficulty_bps: number;
  urgency: string;
  patient_state: string;
  max_bounty: string;
  posted_at: string;
  status: string;
  radiologist: string | null;
  locked_bounty: string | null;
  fee_bps: number | null;
  claimed_at: string | null;
  lease_expires_at: string | null;
  report_hash: string | null;
  reported_at: string | null;
  dispute_deadline: string | null;
  payout: string | null;
  fee: string | null;
  refund: string | null;
  settled_at: string | null;
  posted_tx: string;
  updated_block: string;
}

/** A studies row with its bounty at the query's chain time. */
export interface WorklistDbRow extends StudyDbRow {
  current_bounty: string;
}

const optBig = (v: string | null) => (v === null ? null : BigInt(v));
const optNum = (v: string | number | null) => (v === null ? null : Number(v));

export const toWorklistRow = (r: WorklistDbRow): WorklistRow => ({ ...toStudyRow(r), currentBounty: BigInt(r.current_bounty) });

export function toStudyRow(r: StudyDbRow): StudyRow {
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

/** The bounty of study `s` at chain time `asOf`, with the parameters joined by PARAMETER_JOINS (see bountySql). */
export const bountyAtSql = (asOf: number) =>
  bountySql({ base: raw('b.value'), urgency: raw('u.value'), escalation: raw('esc.value'), asOf: sql`${asOf}::bigint` });

/** Joins that bring the parameters each study's bounty needs (keys: positions in MODALITIES and URGENCIES). */
export const PARAMETER_JOINS = sql`
  JOIN incentive_parameters b   ON b.chain_id = s.chain_id AND b.name = 'baseBounty'
                               AND b.key = array_position(${MODALITIES}::text[], s.modality) - 1
  JOIN incentive_parameters u   ON u.chain_id = s.chain_id AND u.name = 'urgencyMultiplierBps'
                               AND u.key = array_position(${URGENCIES}::text[], s.urgency) - 1
  JOIN incentive_parameters esc ON esc.chain_id = s.chain_id AND esc.name = 'escalationBpsPerHour' AND esc.key = 0`;

/** How a worklist page was found (the bench and the tests look at it). */
export type WorklistPath = 'CEILINGS' | 'PER_COMBINATION' | 'FULL';

@Injectable()
export class StudyRepository {
  constructor(private readonly db: DataSource) {}

  async findById(chainId: number, studyId: string): Promise<StudyRow | null> {
    const rows = await queryRows<StudyDbRow>(this.db, sql`SELECT * FROM studies WHERE chain_id = ${chainId} AND study_id = ${studyId}`);
    return rows.length ? toStudyRow(rows[0]) : null;
  }

  /** Current bounty of one study at chain time `asOf` (null if the study is unknown). */
  async currentBounty(chainId: number, studyId: string, asOf: number): Promise<bigint | null> {
    const rows = await queryRows<{ bounty: string }>(
      this.db,
      sql`SELECT ${bountyAtSql(asOf)} AS bounty FROM studies s ${PARAMETER_JOINS} WHERE s.chain_id = ${chainId} AND s.study_id = ${studyId}`,
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
  async worklistPage(
    q: WorklistQuery,
    opts: { explain?: boolean } = {},
  ): Promise<{ rows: WorklistRow[]; path: WorklistPath; plan?: string[] }> {
    return this.db.transaction('REPEATABLE READ', async (tx) => {
      const chainId = sql`${q.chainId}`;
      // the (state, modality) combinations the eligibility rule admits for this radiologist at asOf (none: no live
      // credential); the study queries below probe the studies indexes once per combination
      const [me] = await queryRows<{ states: string[] | null; modalities: string[] | null; bounded: boolean }>(
        tx,
        // whether the ceilings hold matters only to BOUNTY_DESC (WAITING_DESC needs no bound)
        sql`SELECT array_agg(DISTINCT st) AS states, array_agg(DISTINCT m) AS modalities,
                ${q.sort === 'BOUNTY_DESC' ? boundsHoldSql(chainId, sql`${q.asOf}::bigint`) : raw('false')} AS bounded
         FROM credentials c CROSS JOIN LATERAL unnest(c.states::text[]) AS st CROSS JOIN LATERAL unnest(c.modalities::text[]) AS m
         WHERE c.chain_id = ${chainId} AND c.radiologist = ${q.radiologist} AND ${eligibleSql({ credential: 'c', state: 'st', modality: 'm', asOf: q.asOf })}`,
      );
      const path: WorklistPath = q.sort === 'WAITING_DESC' ? 'PER_COMBINATION' : me?.bounded ? 'CEILINGS' : 'FULL';
      if (!me?.states || !me.modalities) return { rows: [], path };
      const states = me.states.filter((st) => !q.states?.length || q.states.includes(st));
      const modalities = me.modalities.filter((m) => !q.modalities?.length || q.modalities.includes(m));
      if (!states.length || !modalities.length) return { rows: [], path };

      const urgencies = URGENCIES.filter((u) => !q.urgencies?.length || q.urgencies.includes(u));
      if (!urgencies.length) return { rows: [], path };
      // the names of the bounty formula's parameter arrays, the filters and the page (each a parameter where used)
      const [modalityNames, urgencyNames] = [sql`${MODALITIES}::text[]`, sql`${URGENCIES}::text[]`];
      const [inStates, inModalities, inUrgencies] = [sql`${states}`, sql`${modalities}`, sql`${urgencies}`];
      const asOf = sql`${q.asOf}::bigint`;
      const limit = sql`${q.limit}`;
      const min = q.minBounty !== undefined ? sql`${q.minBounty.toString()}::numeric` : null;
      const a = q.after;
      const [idOf, bountyOf, postedOf] = a
        ? [sql`${a.studyId}::text`, sql`${a.bounty.toString()}::numeric`, sql`${a.postedAt}::bigint`]
        : [empty, empty, empty];
      let statement: Sql;
      if (path === 'FULL') {
        const outer: Sql[] = [];
        if (min) outer.push(sql`w.current_bounty >= ${min}`);
        if (a) outer.push(sql`(w.current_bounty < ${bountyOf} OR (w.current_bounty = ${bountyOf} AND w.study_id > ${idOf}))`);
        statement = sql`WITH w AS (
             SELECT s.*, ${bountyAtSql(q.asOf)} AS current_bounty
             FROM studies s ${PARAMETER_JOINS}
             WHERE s.chain_id = ${chainId} AND s.status = 'OPEN'
               AND s.patient_state = ANY(${inStates}::bpchar[]) AND s.modality = ANY(${inModalities}::text[]) AND s.urgency = ANY(${inUrgencies}::text[])
           )
           SELECT * FROM w ${outer.length ? sql`WHERE ${join(outer, ' AND ')}` : empty}
           ORDER BY w.current_bounty DESC, w.study_id ASC LIMIT ${limit}`;
      } else {
        const bounty = bountyFromParamsSql(modalityNames, urgencyNames, asOf);
        // a study whose parameters are missing has no bounty and is not listed (as the joins of FULL drop it)
        const priced = sql`p.base[array_position(${modalityNames}, s.modality)] IS NOT NULL AND p.urg[array_position(${urgencyNames}, s.urgency)] IS NOT NULL AND p.esc IS NOT NULL`;
        const withParams = sql`p AS (${paramsCte(chainId, modalityNames, urgencyNames)})`;
        if (path === 'PER_COMBINATION') {
          statement = sql`WITH ${withParams},
             c AS (SELECT st::bpchar AS st, m FROM unnest(${inStates}::text[]) AS st CROSS JOIN unnest(${inModalities}::text[]) AS m)
             SELECT x.* FROM c CROSS JOIN LATERAL (
               SELECT s.*, ${bounty} AS current_bounty FROM studies s CROSS JOIN p
               WHERE s.chain_id = ${chainId} AND s.status = 'OPEN' AND s.patient_state = c.st AND s.modality = c.m
                 AND s.urgency = ANY(${inUrgencies}::text[]) AND ${priced}
                 ${a ? sql`AND (s.posted_at, s.study_id) > (${postedOf}, ${idOf})` : empty}
                 ${min ? sql`AND s.max_bounty >= ${min} AND ${bounty} >= ${min}` : empty}
               ORDER BY s.posted_at, s.study_id LIMIT ${limit}
             ) x
             ORDER BY x.posted_at, x.study_id LIMIT ${limit}`;
        } else {
          // combinations of (state, modality, urgency), so an urgency filter narrows the index ranges instead of
          // discarding rows read from them
          const ceiling = raw('COALESCE(s.bounty_ceiling, s.max_bounty)');
          const inCombination = sql`s.chain_id = ${chainId} AND s.status = 'OPEN' AND s.patient_state = c.st AND s.modality = c.m AND s.urgency = c.u AND ${priced}`;
          const keyset = (e: string, id: string) =>
            a ? sql`AND (${raw(e)} < ${bountyOf} OR (${raw(e)} = ${bountyOf} AND ${raw(id)} > ${idOf}))` : empty;
          statement = sql`WITH ${withParams},
             c AS (SELECT st::bpchar AS st, m, u FROM unnest(${inStates}::text[]) AS st CROSS JOIN unnest(${inModalities}::text[]) AS m CROSS JOIN unnest(${inUrgencies}::text[]) AS u),
             seed AS (
               -- the N highest ceilings of each combination (after the cursor): their exact bounties give θ
               SELECT x.e FROM c CROSS JOIN LATERAL (
                 SELECT ${bounty} AS e, s.study_id FROM studies s CROSS JOIN p
                 WHERE ${inCombination}
                   ${a ? sql`AND ${ceiling} <= ${bountyOf} AND (${ceiling} < ${bountyOf} OR s.study_id > ${idOf})` : empty}
                 ORDER BY ${ceiling} DESC, s.study_id LIMIT ${limit}
               ) x
               WHERE true ${keyset('x.e', 'x.study_id')} ${min ? sql`AND x.e >= ${min}` : empty}
             ),
             theta AS (
               SELECT GREATEST(COALESCE((SELECT e FROM seed ORDER BY e DESC LIMIT 1 OFFSET ${limit}::int - 1), 0)${min ? sql`, ${min}` : empty}) AS t
             )
             SELECT y.* FROM c CROSS JOIN LATERAL (
               SELECT s.*, ${bounty} AS current_bounty FROM studies s CROSS JOIN p
               WHERE ${inCombination} AND ${ceiling} >= (SELECT t FROM theta)
             ) y
             WHERE true ${keyset('y.current_bounty', 'y.study_id')} ${min ? sql`AND y.current_bounty >= ${min}` : empty}
             ORDER BY y.current_bounty DESC, y.study_id ASC LIMIT ${limit}`;
        }
      }
      if (opts.explain) {
        const plan = await queryRows<{ 'QUERY PLAN': string }>(tx, sql`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${statement}`);
        return { rows: [], path, plan: plan.map((r) => r['QUERY PLAN']) };
      }
      const rows = await queryRows<WorklistDbRow>(tx, statement);
      return { rows: rows.map(toWorklistRow), path };
    });
  }

  async claimsOf(chainId: number, radiologist: string, limit: number): Promise<StudyRow[]> {
    const rows = await queryRows<StudyDbRow>(
      this.db,
      sql`SELECT * FROM studies WHERE chain_id = ${chainId} AND radiologist = ${radiologist} ORDER BY claimed_at DESC, study_id LIMIT ${limit}`,
    );
    return rows.map(toStudyRow);
  }

  /** Studies whose timers are due at chain time `now`: settle after the dispute window, release after the lease. */
  async due(chainId: number, now: number, limit = 100): Promise<{ studyId: string; action: 'SETTLE' | 'RELEASE' }[]> {
    const rows = await queryRows<{ study_id: string; action: 'SETTLE' | 'RELEASE' }>(
      this.db,
      sql`(SELECT study_id, 'SETTLE' AS action FROM studies
         WHERE chain_id = ${chainId} AND status = 'REPORTED' AND dispute_deadline <= ${now} ORDER BY dispute_deadline LIMIT ${limit})
       UNION ALL
       (SELECT study_id, 'RELEASE' AS action FROM studies
         WHERE chain_id = ${chainId} AND status = 'CLAIMED' AND lease_expires_at < ${now} ORDER BY lease_expires_at LIMIT ${limit})`,
    );
    return rows.map((r) => ({ studyId: r.study_id, action: r.action }));
  }

  async isEligible(chainId: number, radiologist: string, studyId: string, asOf: number): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`SELECT 1 FROM studies s JOIN credentials c ON c.chain_id = s.chain_id AND c.radiologist = ${radiologist}
       WHERE s.chain_id = ${chainId} AND s.study_id = ${studyId}
         AND ${eligibleSql({ credential: 'c', state: 's.patient_state', modality: 's.modality', asOf })}`,
    );
    return rows.length > 0;
  }

  async parameters(chainId: number): Promise<{ name: string; key: number; value: bigint; updatedBlock: number }[]> {
    const rows = await queryRows<{ name: string; key: number; value: string; updated_block: string }>(
      this.db,
      sql`SELECT name, key, value, updated_block FROM incentive_parameters WHERE chain_id = ${chainId} ORDER BY name, key`,
    );
    return rows.map((r) => ({
      name: r.name,
      key: Number(r.key),
      value: BigInt(r.value),
      updatedBlock: Number(r.updated_block),
    }));
  }
}
