import { MODALITIES, URGENCIES, US_STATES } from '#domain';
import { execute, queryRows, sql } from '#db';
import { copyRows } from '../copy.js';
import { type Projection, type Runner, col, linesOf, num, str } from './projection.js';

/** The `studies` table: one row per study, a function of that study's events; and the ledger lines they make. */
export const STUDY_EVENTS = [
  'StudyPosted',
  'StudyClaimed',
  'LeaseExpired',
  'ReportSubmitted',
  'StudyDisputed',
  'StudySettled',
  'DisputeResolved',
  'StudyCancelled',
];

const settled: Runner = async (tx, chainId, run, ledger) => {
  const [studyId, payout, fee, refund, settledAt, block] = [
    col(run, (e) => str(e.args.studyId)),
    col(run, (e) => str(e.args.payout)),
    col(run, (e) => str(e.args.fee)),
    col(run, (e) => str(e.args.refund)),
    col(run, (e) => e.blockTime),
    col(run, (e) => e.blockNumber),
  ];
  await execute(
    tx,
    sql`UPDATE studies s SET status = 'SETTLED', payout = v.payout, fee = v.fee, refund = v.refund, settled_at = v.settled_at,
              updated_block = v.block
       FROM (SELECT unnest(${studyId}::text[]) AS study_id, unnest(${payout}::numeric[]) AS payout, unnest(${fee}::numeric[]) AS fee, unnest(${refund}::numeric[]) AS refund, unnest(${settledAt}::bigint[]) AS settled_at, unnest(${block}::bigint[]) AS block) AS v
       WHERE s.chain_id = ${chainId} AND s.study_id = v.study_id`,
  );
  for (const e of run) linesOf(ledger, e);
};

export const studiesProjection: Projection = {
  events: STUDY_EVENTS,
  entityOf: (e) => `study:${e.args.studyId}`,
  runners: {
    async StudyPosted(tx, chainId, run, ledger) {
      await copyRows(
        tx,
        'studies',
        [
          'chain_id',
          'study_id',
          'ro',
          'modality',
          'difficulty_bps',
          'urgency',
          'patient_state',
          'max_bounty',
          'posted_at',
          'status',
          'posted_tx',
          'posted_block',
          'updated_block',
        ],
        run.map((e) => [
          chainId,
          str(e.args.studyId),
          str(e.args.ro),
          MODALITIES[num(e.args.modality)],
          num(e.args.difficultyBps),
          URGENCIES[num(e.args.urgency)],
          US_STATES[num(e.args.patientState)],
          str(e.args.maxBounty),
          num(e.args.postedAt),
          'OPEN',
          e.txHash,
          e.blockNumber,
          e.blockNumber,
        ]),
      );
      for (const e of run) linesOf(ledger, e);
    },

    async StudyClaimed(tx, chainId, run, ledger) {
      const [studyId, radiologist, bounty, feeBps, claimedAt, leaseExpiresAt, block] = [
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.radiologist)),
        col(run, (e) => str(e.args.bounty)),
        col(run, (e) => num(e.args.feeBps)),
        col(run, (e) => e.blockTime),
        col(run, (e) => num(e.args.leaseExpiresAt)),
        col(run, (e) => e.blockNumber),
      ];
      await execute(
        tx,
        sql`UPDATE studies s SET status = 'CLAIMED', radiologist = v.radiologist, locked_bounty = v.bounty, fee_bps = v.fee_bps,
              claimed_at = v.claimed_at, lease_expires_at = v.lease_expires_at, updated_block = v.block
       FROM (SELECT unnest(${studyId}::text[]) AS study_id, unnest(${radiologist}::text[]) AS radiologist, unnest(${bounty}::numeric[]) AS bounty, unnest(${feeBps}::int[]) AS fee_bps, unnest(${claimedAt}::bigint[]) AS claimed_at, unnest(${leaseExpiresAt}::bigint[]) AS lease_expires_at, unnest(${block}::bigint[]) AS block) AS v
       WHERE s.chain_id = ${chainId} AND s.study_id = v.study_id`,
      );
      for (const e of run) linesOf(ledger, e);
    },

    async LeaseExpired(tx, chainId, run, ledger) {
      const [studyId, block] = [col(run, (e) => str(e.args.studyId)), col(run, (e) => e.blockNumber)];
      // all parts of one statement see the same snapshot: `old` has the values before the update
      const rows = await queryRows<{ study_id: string; ro: string; locked_bounty: string | null }>(
        tx,
        sql`WITH v AS (SELECT * FROM (SELECT unnest(${studyId}::text[]) AS study_id, unnest(${block}::bigint[]) AS block) AS v),
       old AS (SELECT s.study_id, s.ro, s.locked_bounty FROM studies s JOIN v ON v.study_id = s.study_id WHERE s.chain_id = ${chainId}),
       upd AS (
         UPDATE studies s SET status = 'OPEN', radiologist = NULL, locked_bounty = NULL, fee_bps = NULL, claimed_at = NULL,
                lease_expires_at = NULL, updated_block = v.block
         FROM v WHERE s.chain_id = ${chainId} AND s.study_id = v.study_id RETURNING s.study_id)
       SELECT old.* FROM old JOIN upd USING (study_id)`,
      );
      const old = new Map(rows.map((r) => [r.study_id, r]));
      for (const e of run) {
        const s = old.get(str(e.args.studyId));
        linesOf(ledger, e, s && { ro: s.ro, radiologist: null, lockedBounty: s.locked_bounty });
      }
    },

    async ReportSubmitted(tx, chainId, run) {
      const [studyId, reportHash, reportedAt, disputeDeadline, block] = [
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.reportHash)),
        col(run, (e) => e.blockTime),
        col(run, (e) => num(e.args.disputeDeadline)),
        col(run, (e) => e.blockNumber),
      ];
      await execute(
        tx,
        sql`UPDATE studies s SET status = 'REPORTED', report_hash = v.report_hash, reported_at = v.reported_at,
              dispute_deadline = v.dispute_deadline, updated_block = v.block
       FROM (SELECT unnest(${studyId}::text[]) AS study_id, unnest(${reportHash}::text[]) AS report_hash, unnest(${reportedAt}::bigint[]) AS reported_at, unnest(${disputeDeadline}::bigint[]) AS dispute_deadline, unnest(${block}::bigint[]) AS block) AS v
       WHERE s.chain_id = ${chainId} AND s.study_id = v.study_id`,
      );
    },

    async StudyDisputed(tx, chainId, run, ledger) {
      const [studyId, block] = [col(run, (e) => str(e.args.studyId)), col(run, (e) => e.blockNumber)];
      const rows = await queryRows<{ study_id: string; locked_bounty: string | null; radiologist: string | null }>(
        tx,
        sql`WITH upd AS (
         UPDATE studies s SET status = 'DISPUTED', updated_block = v.block
         FROM (SELECT unnest(${studyId}::text[]) AS study_id, unnest(${block}::bigint[]) AS block) AS v
         WHERE s.chain_id = ${chainId} AND s.study_id = v.study_id
         RETURNING s.study_id, s.locked_bounty, s.radiologist)
       SELECT * FROM upd`,
      );
      const byId = new Map(rows.map((r) => [r.study_id, r]));
      for (const e of run) {
        const s = byId.get(str(e.args.studyId));
        linesOf(ledger, e, s && { ro: str(e.args.ro), radiologist: s.radiologist, lockedBounty: s.locked_bounty });
      }
    },

    StudySettled: settled,
    // the arbiter's (or timelock's) split of a disputed study: the same fields and the same projection as a settlement
    DisputeResolved: settled,

    async StudyCancelled(tx, chainId, run, ledger) {
      const [studyId, refund, settledAt, block] = [
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.refund)),
        col(run, (e) => e.blockTime),
        col(run, (e) => e.blockNumber),
      ];
      await execute(
        tx,
        sql`UPDATE studies s SET status = 'CANCELLED', refund = v.refund, settled_at = v.settled_at, updated_block = v.block
       FROM (SELECT unnest(${studyId}::text[]) AS study_id, unnest(${refund}::numeric[]) AS refund, unnest(${settledAt}::bigint[]) AS settled_at, unnest(${block}::bigint[]) AS block) AS v
       WHERE s.chain_id = ${chainId} AND s.study_id = v.study_id`,
      );
      for (const e of run) linesOf(ledger, e);
    },
  },
};
