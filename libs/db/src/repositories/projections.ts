import type { EntityManager } from 'typeorm';
import { MODALITIES, URGENCIES, US_STATES, fromMask } from '../../../domain/src/codes.js';
import type { ChainEvent } from './event-store.js';

/**
 * The projections (studies, credentials, incentive parameters, ledger) as a function of the event sequence,
 * set-based: a batch of events in chain order is cut into runs of consecutive events of one kind that touch
 * distinct entities, and each run is one SQL statement over arrays (unnest). Applying a run at once is the
 * same as applying its events one by one, because no event of a run reads what another one writes.
 * Ledger rows are collected and inserted at the end (nothing in a batch reads them).
 *
 * Every projected row is a function of its own entity's events only (a study of its study's events, a
 * credential of its radiologist's, a parameter of its name/key's), which is what lets a reorg roll back by
 * deleting the touched entities and replaying their remaining events (EventStore.rollback).
 */

type Arg = string | number | boolean;
const str = (v: Arg) => String(v);
const num = (v: Arg) => Number(v);

export const STUDY_EVENTS = ['StudyPosted', 'StudyClaimed', 'LeaseExpired', 'ReportSubmitted', 'StudyDisputed', 'StudySettled', 'StudyCancelled'];
export const CREDENTIAL_EVENTS = ['CredentialAttested', 'CredentialRevoked'];
export const PARAMETER_EVENTS = ['ParameterUpdated'];

/** The entity an event's projection writes (null: it only appends ledger rows, or nothing). */
export function entityOf(e: ChainEvent): string | null {
  if (STUDY_EVENTS.includes(e.name)) return `study:${e.args.studyId}`;
  if (CREDENTIAL_EVENTS.includes(e.name)) return `credential:${e.args.radiologist}`;
  if (PARAMETER_EVENTS.includes(e.name)) return `parameter:${e.args.name}:${e.args.key}`;
  return null;
}

interface LedgerRow {
  account: string;
  kind: string;
  amount: string;
  studyId: string | null;
  counterparty: string | null;
  e: ChainEvent;
}

type Runner = (tx: EntityManager, chainId: number, run: ChainEvent[], ledger: LedgerRow[]) => Promise<void>;

const col = <T>(run: ChainEvent[], f: (e: ChainEvent) => T) => run.map(f);

const RUNNERS: Record<string, Runner> = {
  async StudyPosted(tx, chainId, run, ledger) {
    await tx.query(
      `INSERT INTO studies (chain_id, study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty,
                            posted_at, status, posted_tx, posted_block, updated_block)
       SELECT $1::int, v.study_id, v.ro, v.modality, v.difficulty_bps, v.urgency, v.patient_state, v.max_bounty,
              v.posted_at, 'OPEN', v.posted_tx, v.block, v.block
       FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::numeric[], $9::bigint[],
                   $10::text[], $11::bigint[])
         AS v(study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty, posted_at, posted_tx, block)`,
      [
        chainId,
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.ro)),
        col(run, (e) => MODALITIES[num(e.args.modality)]),
        col(run, (e) => num(e.args.difficultyBps)),
        col(run, (e) => URGENCIES[num(e.args.urgency)]),
        col(run, (e) => US_STATES[num(e.args.patientState)]),
        col(run, (e) => str(e.args.maxBounty)),
        col(run, (e) => num(e.args.postedAt)),
        col(run, (e) => e.txHash),
        col(run, (e) => e.blockNumber),
      ],
    );
    for (const e of run) ledger.push({ account: str(e.args.ro), kind: 'ESCROW', amount: str(e.args.maxBounty), studyId: str(e.args.studyId), counterparty: null, e });
  },

  async StudyClaimed(tx, chainId, run, ledger) {
    await tx.query(
      `UPDATE studies s SET status = 'CLAIMED', radiologist = v.radiologist, locked_bounty = v.bounty, fee_bps = v.fee_bps,
              claimed_at = v.claimed_at, lease_expires_at = v.lease_expires_at, updated_block = v.block
       FROM unnest($2::text[], $3::text[], $4::numeric[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[])
         AS v(study_id, radiologist, bounty, fee_bps, claimed_at, lease_expires_at, block)
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [
        chainId,
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.radiologist)),
        col(run, (e) => str(e.args.bounty)),
        col(run, (e) => num(e.args.feeBps)),
        col(run, (e) => e.blockTime),
        col(run, (e) => num(e.args.leaseExpiresAt)),
        col(run, (e) => e.blockNumber),
      ],
    );
    for (const e of run)
      ledger.push({ account: str(e.args.ro), kind: 'LOCK', amount: str(e.args.bounty), studyId: str(e.args.studyId), counterparty: str(e.args.radiologist), e });
  },

  async LeaseExpired(tx, chainId, run, ledger) {
    // all parts of one statement see the same snapshot: `old` has the values before the update
    const rows: { study_id: string; ro: string; locked_bounty: string | null }[] = await tx.query(
      `WITH v AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS v(study_id, block)),
       old AS (SELECT s.study_id, s.ro, s.locked_bounty FROM studies s JOIN v ON v.study_id = s.study_id WHERE s.chain_id = $1),
       upd AS (
         UPDATE studies s SET status = 'OPEN', radiologist = NULL, locked_bounty = NULL, fee_bps = NULL, claimed_at = NULL,
                lease_expires_at = NULL, updated_block = v.block
         FROM v WHERE s.chain_id = $1 AND s.study_id = v.study_id RETURNING s.study_id)
       SELECT old.* FROM old JOIN upd USING (study_id)`,
      [chainId, col(run, (e) => str(e.args.studyId)), col(run, (e) => e.blockNumber)],
    );
    const old = new Map(rows.map((r) => [r.study_id, r]));
    for (const e of run) {
      const s = old.get(str(e.args.studyId));
      if (s) ledger.push({ account: s.ro, kind: 'LOCK_RELEASED', amount: s.locked_bounty ?? '0', studyId: str(e.args.studyId), counterparty: str(e.args.radiologist), e });
    }
  },

  async ReportSubmitted(tx, chainId, run) {
    await tx.query(
      `UPDATE studies s SET status = 'REPORTED', report_hash = v.report_hash, reported_at = v.reported_at,
              dispute_deadline = v.dispute_deadline, updated_block = v.block
       FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) AS v(study_id, report_hash, reported_at, dispute_deadline, block)
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [
        chainId,
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.reportHash)),
        col(run, (e) => e.blockTime),
        col(run, (e) => num(e.args.disputeDeadline)),
        col(run, (e) => e.blockNumber),
      ],
    );
  },

  async StudyDisputed(tx, chainId, run, ledger) {
    const rows: { study_id: string; locked_bounty: string | null; radiologist: string | null }[] = await tx.query(
      `WITH upd AS (
         UPDATE studies s SET status = 'DISPUTED', updated_block = v.block
         FROM unnest($2::text[], $3::bigint[]) AS v(study_id, block)
         WHERE s.chain_id = $1 AND s.study_id = v.study_id
         RETURNING s.study_id, s.locked_bounty, s.radiologist)
       SELECT * FROM upd`,
      [chainId, col(run, (e) => str(e.args.studyId)), col(run, (e) => e.blockNumber)],
    );
    const byId = new Map(rows.map((r) => [r.study_id, r]));
    for (const e of run) {
      const s = byId.get(str(e.args.studyId));
      if (s) ledger.push({ account: str(e.args.ro), kind: 'DISPUTE', amount: s.locked_bounty ?? '0', studyId: str(e.args.studyId), counterparty: s.radiologist, e });
    }
  },

  async StudySettled(tx, chainId, run, ledger) {
    await tx.query(
      `UPDATE studies s SET status = 'SETTLED', payout = v.payout, fee = v.fee, refund = v.refund, settled_at = v.settled_at,
              updated_block = v.block
       FROM unnest($2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::bigint[], $7::bigint[])
         AS v(study_id, payout, fee, refund, settled_at, block)
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [
        chainId,
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.payout)),
        col(run, (e) => str(e.args.fee)),
        col(run, (e) => str(e.args.refund)),
        col(run, (e) => e.blockTime),
        col(run, (e) => e.blockNumber),
      ],
    );
    for (const e of run) {
      const studyId = str(e.args.studyId);
      ledger.push({ account: str(e.args.ro), kind: 'PAYOUT', amount: str(e.args.payout), studyId, counterparty: str(e.args.radiologist), e });
      ledger.push({ account: str(e.args.ro), kind: 'FEE', amount: str(e.args.fee), studyId, counterparty: str(e.args.treasury), e });
      ledger.push({ account: str(e.args.ro), kind: 'REFUND', amount: str(e.args.refund), studyId, counterparty: null, e });
    }
  },

  async StudyCancelled(tx, chainId, run, ledger) {
    await tx.query(
      `UPDATE studies s SET status = 'CANCELLED', refund = v.refund, settled_at = v.settled_at, updated_block = v.block
       FROM unnest($2::text[], $3::numeric[], $4::bigint[], $5::bigint[]) AS v(study_id, refund, settled_at, block)
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [chainId, col(run, (e) => str(e.args.studyId)), col(run, (e) => str(e.args.refund)), col(run, (e) => e.blockTime), col(run, (e) => e.blockNumber)],
    );
    for (const e of run) ledger.push({ account: str(e.args.ro), kind: 'REFUND', amount: str(e.args.refund), studyId: str(e.args.studyId), counterparty: null, e });
  },

  async Deposited(_tx, _chainId, run, ledger) {
    for (const e of run) ledger.push({ account: str(e.args.account), kind: 'DEPOSIT', amount: str(e.args.amount), studyId: null, counterparty: null, e });
  },

  async Withdrawn(_tx, _chainId, run, ledger) {
    for (const e of run) ledger.push({ account: str(e.args.account), kind: 'WITHDRAWAL', amount: str(e.args.amount), studyId: null, counterparty: null, e });
  },

  async CredentialAttested(tx, chainId, run) {
    await tx.query(
      `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block)
       SELECT $1::int, v.radiologist, string_to_array(v.states, ','), string_to_array(v.modalities, ','), v.expires_at, false, v.verifier, v.block
       FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
         AS v(radiologist, states, modalities, expires_at, verifier, block)
       ON CONFLICT ON CONSTRAINT credentials_pk DO UPDATE
         SET states = EXCLUDED.states, modalities = EXCLUDED.modalities, expires_at = EXCLUDED.expires_at,
             revoked = false, verifier = EXCLUDED.verifier, updated_block = EXCLUDED.updated_block`,
      [
        chainId,
        col(run, (e) => str(e.args.radiologist)),
        col(run, (e) => fromMask(US_STATES, BigInt(str(e.args.statesMask))).join(',')),
        col(run, (e) => fromMask(MODALITIES, BigInt(str(e.args.modalitiesMask))).join(',')),
        col(run, (e) => num(e.args.expiresAt)),
        col(run, (e) => str(e.args.verifier)),
        col(run, (e) => e.blockNumber),
      ],
    );
  },

  async CredentialRevoked(tx, chainId, run) {
    await tx.query(
      `UPDATE credentials c SET revoked = true, verifier = v.verifier, updated_block = v.block
       FROM unnest($2::text[], $3::text[], $4::bigint[]) AS v(radiologist, verifier, block)
       WHERE c.chain_id = $1 AND c.radiologist = v.radiologist`,
      [chainId, col(run, (e) => str(e.args.radiologist)), col(run, (e) => str(e.args.verifier)), col(run, (e) => e.blockNumber)],
    );
  },

  async ParameterUpdated(tx, chainId, run) {
    await tx.query(
      `INSERT INTO incentive_parameters (chain_id, name, key, value, updated_block, tx_hash)
       SELECT $1::int, v.name, v.key, v.value, v.block, v.tx_hash
       FROM unnest($2::text[], $3::int[], $4::numeric[], $5::bigint[], $6::text[]) AS v(name, key, value, block, tx_hash)
       ON CONFLICT ON CONSTRAINT incentive_parameters_pk DO UPDATE
         SET value = EXCLUDED.value, updated_block = EXCLUDED.updated_block, tx_hash = EXCLUDED.tx_hash`,
      [
        chainId,
        col(run, (e) => str(e.args.name)),
        col(run, (e) => num(e.args.key)),
        col(run, (e) => str(e.args.value)),
        col(run, (e) => e.blockNumber),
        col(run, (e) => e.txHash),
      ],
    );
  },
};

/** Cuts events (in chain order) into runs: same kind, consecutive, each entity at most once. */
export function runsOf(events: ChainEvent[]): ChainEvent[][] {
  const runs: ChainEvent[][] = [];
  let run: ChainEvent[] = [];
  let keys = new Set<string>();
  for (const e of events) {
    const key = entityOf(e);
    if (run.length && (run[0].name !== e.name || (key !== null && keys.has(key)))) {
      runs.push(run);
      run = [];
      keys = new Set();
    }
    run.push(e);
    if (key !== null) keys.add(key);
  }
  if (run.length) runs.push(run);
  return runs;
}

/** Applies events (in chain order) to the projections. Events of kinds with no projection are ignored. */
export async function applyEvents(tx: EntityManager, chainId: number, events: ChainEvent[]): Promise<void> {
  const ledger: LedgerRow[] = [];
  for (const run of runsOf(events)) {
    const runner = RUNNERS[run[0].name];
    if (runner) await runner(tx, chainId, run, ledger); // others (TreasuryUpdated, role changes) live in chain_events only
  }
  if (ledger.length === 0) return;
  await tx.query(
    `INSERT INTO ledger_entries (chain_id, account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time)
     SELECT $1::int, * FROM unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::bigint[])
     ON CONFLICT ON CONSTRAINT ledger_entries_unique DO NOTHING`,
    [
      chainId,
      ledger.map((l) => l.account),
      ledger.map((l) => l.kind),
      ledger.map((l) => l.amount),
      ledger.map((l) => l.studyId),
      ledger.map((l) => l.counterparty),
      ledger.map((l) => l.e.txHash),
      ledger.map((l) => l.e.logIndex),
      ledger.map((l) => l.e.blockNumber),
      ledger.map((l) => l.e.blockTime),
    ],
  );
}
