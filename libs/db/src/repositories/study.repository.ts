import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MODALITIES, URGENCIES } from '../../../domain/src/codes.js';

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

/**
 * The bounty formula in SQL: identical integer arithmetic to BountyMath.sol and libs/domain/src/bounty.ts
 * (numeric is exact; div() truncates like uint256 division). libs/db/src/repositories/study.repository.spec.ts
 * proves SQL and TypeScript agree on random inputs.
 */
export const BOUNTY_SQL = `LEAST(s.max_bounty,
  div(b.value * s.difficulty_bps * u.value * (10000 + esc.value * div(GREATEST($3::bigint - s.posted_at, 0), 3600)),
      1000000000000))`;

/** Joins that bring the parameters each study's bounty needs ($1 chain id, $4 modality names, $5 urgency names). */
export const PARAMETER_JOINS = `
  JOIN incentive_parameters b   ON b.chain_id = s.chain_id AND b.name = 'baseBounty'
                               AND b.key = array_position($4::text[], s.modality) - 1
  JOIN incentive_parameters u   ON u.chain_id = s.chain_id AND u.name = 'urgencyMultiplierBps'
                               AND u.key = array_position($5::text[], s.urgency) - 1
  JOIN incentive_parameters esc ON esc.chain_id = s.chain_id AND esc.name = 'escalationBpsPerHour' AND esc.key = 0`;

@Injectable()
export class StudyRepository {
  constructor(private readonly db: DataSource) {}

  async findById(chainId: number, studyId: string): Promise<StudyRow | null> {
    const rows = await this.db.query(`SELECT * FROM studies WHERE chain_id = $1 AND study_id = $2`, [chainId, studyId]);
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
   * modality covered — the same rule CredentialRegistry.isEligible enforces at claim).
   */
  async worklist(q: WorklistQuery): Promise<WorklistRow[]> {
    // the credential first: its states and modalities as parameters let the planner use studies_open_eligibility_idx
    // (joined inside the query, a one-row CTE, it scanned every open study: see README, "Bench")
    const [me] = await this.db.query(
      `SELECT states, modalities FROM credentials WHERE chain_id = $1 AND radiologist = $2 AND NOT revoked AND expires_at > $3`,
      [q.chainId, q.radiologist, q.asOf],
    );
    if (!me) return [];
    const params: unknown[] = [q.chainId, q.radiologist, q.asOf, MODALITIES, URGENCIES];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where: string[] = [`s.patient_state = ANY(${p(me.states)}::bpchar[])`, `s.modality = ANY(${p(me.modalities)}::text[])`];
    if (q.modalities?.length) where.push(`s.modality = ANY(${p(q.modalities)}::text[])`);
    if (q.states?.length) where.push(`s.patient_state = ANY(${p(q.states)}::text[])`);
    if (q.urgencies?.length) where.push(`s.urgency = ANY(${p(q.urgencies)}::text[])`);
    const outer: string[] = [];
    if (q.minBounty !== undefined) outer.push(`w.current_bounty >= ${p(q.minBounty.toString())}::numeric`);
    if (q.after) {
      const id = p(q.after.studyId);
      if (q.sort === 'BOUNTY_DESC') {
        const b = p(q.after.bounty.toString());
        outer.push(`(w.current_bounty < ${b}::numeric OR (w.current_bounty = ${b}::numeric AND w.study_id > ${id}))`);
      } else {
        const t = p(q.after.postedAt);
        outer.push(`(w.posted_at > ${t}::bigint OR (w.posted_at = ${t}::bigint AND w.study_id > ${id}))`);
      }
    }
    const order = q.sort === 'BOUNTY_DESC' ? 'w.current_bounty DESC, w.study_id ASC' : 'w.posted_at ASC, w.study_id ASC';
    const rows = await this.db.query(
      `WITH me AS (
         SELECT states, modalities FROM credentials
         WHERE chain_id = $1 AND radiologist = $2 AND NOT revoked AND expires_at > $3
       ), w AS (
         SELECT s.*, ${BOUNTY_SQL} AS current_bounty
         FROM studies s
         JOIN me ON s.patient_state = ANY(me.states) AND s.modality = ANY(me.modalities)
         ${PARAMETER_JOINS}
         WHERE s.chain_id = $1 AND s.status = 'OPEN' ${where.map((w) => `AND ${w}`).join(' ')}
       )
       SELECT * FROM w ${outer.length ? `WHERE ${outer.join(' AND ')}` : ''}
       ORDER BY ${order}
       LIMIT ${p(q.limit)}`,
      params,
    );
    return rows.map((r: Record<string, any>) => ({ ...toStudyRow(r), currentBounty: BigInt(r.current_bounty) }));
  }

  async claimsOf(chainId: number, radiologist: string, limit: number): Promise<StudyRow[]> {
    const rows = await this.db.query(
      `SELECT * FROM studies WHERE chain_id = $1 AND radiologist = $2 ORDER BY claimed_at DESC, study_id LIMIT $3`,
      [chainId, radiologist, limit],
    );
    return rows.map(toStudyRow);
  }

  /** Studies whose timers are due at chain time `now`: settle after the dispute window, release after the lease. */
  async due(chainId: number, now: number, limit = 100): Promise<{ studyId: string; action: 'SETTLE' | 'RELEASE' }[]> {
    const rows = await this.db.query(
      `(SELECT study_id, 'SETTLE' AS action FROM studies
         WHERE chain_id = $1 AND status = 'REPORTED' AND dispute_deadline <= $2 ORDER BY dispute_deadline LIMIT $3)
       UNION ALL
       (SELECT study_id, 'RELEASE' AS action FROM studies
         WHERE chain_id = $1 AND status = 'CLAIMED' AND lease_expires_at < $2 ORDER BY lease_expires_at LIMIT $3)`,
      [chainId, now, limit],
    );
    return rows.map((r: Record<string, any>) => ({ studyId: r.study_id, action: r.action }));
  }

  async isEligible(chainId: number, radiologist: string, studyId: string, asOf: number): Promise<boolean> {
    const rows = await this.db.query(
      `SELECT 1 FROM studies s JOIN credentials c ON c.chain_id = s.chain_id AND c.radiologist = $2
       WHERE s.chain_id = $1 AND s.study_id = $3 AND NOT c.revoked AND c.expires_at > $4
         AND s.patient_state = ANY(c.states) AND s.modality = ANY(c.modalities)`,
      [chainId, radiologist, studyId, asOf],
    );
    return rows.length > 0;
  }

  async parameters(chainId: number): Promise<{ name: string; key: number; value: bigint; updatedBlock: number }[]> {
    const rows = await this.db.query(
      `SELECT name, key, value, updated_block FROM incentive_parameters WHERE chain_id = $1 ORDER BY name, key`,
      [chainId],
    );
    return rows.map((r: Record<string, any>) => ({
      name: r.name,
      key: Number(r.key),
      value: BigInt(r.value),
      updatedBlock: Number(r.updated_block),
    }));
  }
}
