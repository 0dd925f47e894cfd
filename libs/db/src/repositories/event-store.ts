import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { MODALITIES, URGENCIES, US_STATES, fromMask } from '../../../domain/src/codes.js';

/** A decoded chain log, as the indexer's decode stage hands it to the store. Numbers beyond 2^53 are decimal strings. */
export interface ChainEvent {
  blockNumber: number;
  blockHash: string;
  blockTime: number;
  txHash: string;
  logIndex: number;
  contract: string;
  name: string;
  /** see EventArg in libs/chain/src/events.ts: arrays hold decoded elements */
  args: Record<string, EventArgValue>;
}
export type EventArgValue = string | number | boolean | EventArgValue[];

export interface Checkpoint {
  blockNumber: number;
  blockHash: string | null;
  blockTime: number | null;
}

/**
 * The indexer's store stage. Each batch is one transaction: raw events (unique per chain/tx/log, so a log
 * delivered twice changes nothing), the projections they drive, and the checkpoint move together.
 */
@Injectable()
export class EventStore {
  constructor(private readonly db: DataSource) {}

  async checkpoint(chainId: number, stream: string): Promise<Checkpoint | null> {
    const rows = await this.db.query(
      `SELECT block_number, block_hash, block_time FROM indexer_checkpoints WHERE chain_id = $1 AND stream = $2`,
      [chainId, stream],
    );
    if (rows.length === 0) return null;
    return {
      blockNumber: Number(rows[0].block_number),
      blockHash: rows[0].block_hash,
      blockTime: rows[0].block_time === null ? null : Number(rows[0].block_time),
    };
  }

  /** Stores a batch; returns the events that were new (the ones to publish). */
  async storeBatch(chainId: number, stream: string, events: ChainEvent[], to: Checkpoint): Promise<ChainEvent[]> {
    return this.db.transaction(async (tx) => {
      const fresh: ChainEvent[] = [];
      for (const e of events) {
        const inserted = await tx.query(
          `INSERT INTO chain_events (chain_id, block_number, block_hash, block_time, tx_hash, log_index, contract, name, args)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT ON CONSTRAINT chain_events_log_unique DO NOTHING
           RETURNING id`,
          [chainId, e.blockNumber, e.blockHash, e.blockTime, e.txHash, e.logIndex, e.contract, e.name, JSON.stringify(e.args)],
        );
        if (inserted.length === 0) continue;
        await project(tx, chainId, e);
        fresh.push(e);
      }
      await tx.query(
        `INSERT INTO indexer_checkpoints (chain_id, stream, block_number, block_hash, block_time, updated_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT ON CONSTRAINT indexer_checkpoints_pk DO UPDATE
           SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,
               block_time = EXCLUDED.block_time, updated_at = now()
           WHERE indexer_checkpoints.block_number <= EXCLUDED.block_number`,
        [chainId, stream, to.blockNumber, to.blockHash, to.blockTime],
      );
      return fresh;
    });
  }
}

const str = (v: EventArgValue) => String(v);
const num = (v: EventArgValue) => Number(v);

async function ledger(
  tx: EntityManager,
  chainId: number,
  e: ChainEvent,
  account: string,
  kind: string,
  amount: EventArgValue,
  studyId: string | null,
  counterparty: string | null = null,
) {
  await tx.query(
    `INSERT INTO ledger_entries (chain_id, account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT ON CONSTRAINT ledger_entries_unique DO NOTHING`,
    [chainId, account, kind, str(amount), studyId, counterparty, e.txHash, e.logIndex, e.blockNumber, e.blockTime],
  );
}

/** Applies one event to the projections. Events arrive in chain order (block, log index). */
async function project(tx: EntityManager, chainId: number, e: ChainEvent): Promise<void> {
  const a = e.args;
  switch (e.name) {
    case 'StudyPosted':
      await tx.query(
        `INSERT INTO studies (chain_id, study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty,
                              posted_at, status, posted_tx, posted_block, updated_block)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'OPEN', $10, $11, $11)`,
        [
          chainId, a.studyId, a.ro, MODALITIES[num(a.modality)], num(a.difficultyBps), URGENCIES[num(a.urgency)],
          US_STATES[num(a.patientState)], str(a.maxBounty), num(a.postedAt), e.txHash, e.blockNumber,
        ],
      );
      await ledger(tx, chainId, e, str(a.ro), 'ESCROW', a.maxBounty, str(a.studyId));
      return;
    case 'StudyClaimed':
      await tx.query(
        `UPDATE studies SET status = 'CLAIMED', radiologist = $3, locked_bounty = $4, fee_bps = $5,
                claimed_at = $6, lease_expires_at = $7, updated_block = $8
         WHERE chain_id = $1 AND study_id = $2`,
        [chainId, a.studyId, a.radiologist, str(a.bounty), num(a.feeBps), e.blockTime, num(a.leaseExpiresAt), e.blockNumber],
      );
      await ledger(tx, chainId, e, str(a.ro), 'LOCK', a.bounty, str(a.studyId), str(a.radiologist));
      return;
    case 'LeaseExpired': {
      const [s] = await tx.query(
        `UPDATE studies SET status = 'OPEN', radiologist = NULL, locked_bounty = NULL, fee_bps = NULL, claimed_at = NULL,
                lease_expires_at = NULL, updated_block = $3
         WHERE chain_id = $1 AND study_id = $2
         RETURNING ro, (SELECT amount FROM ledger_entries l WHERE l.chain_id = $1 AND l.study_id = $2 AND l.kind = 'LOCK'
                        ORDER BY block_number DESC, log_index DESC LIMIT 1) AS locked`,
        [chainId, a.studyId, e.blockNumber],
      );
      if (s?.[0]) await ledger(tx, chainId, e, s[0].ro, 'LOCK_RELEASED', s[0].locked ?? '0', str(a.studyId), str(a.radiologist));
      return;
    }
    case 'ReportSubmitted':
      await tx.query(
        `UPDATE studies SET status = 'REPORTED', report_hash = $3, reported_at = $4, dispute_deadline = $5, updated_block = $6
         WHERE chain_id = $1 AND study_id = $2`,
        [chainId, a.studyId, a.reportHash, e.blockTime, num(a.disputeDeadline), e.blockNumber],
      );
      return;
    case 'StudyDisputed': {
      const [rows] = await tx.query(
        `UPDATE studies SET status = 'DISPUTED', updated_block = $3 WHERE chain_id = $1 AND study_id = $2
         RETURNING locked_bounty, radiologist`,
        [chainId, a.studyId, e.blockNumber],
      );
      const s = rows?.[0];
      if (s) await ledger(tx, chainId, e, str(a.ro), 'DISPUTE', s.locked_bounty ?? '0', str(a.studyId), s.radiologist);
      return;
    }
    case 'StudySettled':
    case 'DisputeResolved': // same fields: the arbiter's (or timelock's) split of a disputed study
      await tx.query(
        `UPDATE studies SET status = 'SETTLED', payout = $3, fee = $4, refund = $5, settled_at = $6, updated_block = $7
         WHERE chain_id = $1 AND study_id = $2`,
        [chainId, a.studyId, str(a.payout), str(a.fee), str(a.refund), e.blockTime, e.blockNumber],
      );
      await ledger(tx, chainId, e, str(a.ro), 'PAYOUT', a.payout, str(a.studyId), str(a.radiologist));
      await ledger(tx, chainId, e, str(a.ro), 'FEE', a.fee, str(a.studyId), str(a.treasury));
      await ledger(tx, chainId, e, str(a.ro), 'REFUND', a.refund, str(a.studyId));
      return;
    case 'StudyCancelled':
      await tx.query(
        `UPDATE studies SET status = 'CANCELLED', refund = $3, settled_at = $4, updated_block = $5
         WHERE chain_id = $1 AND study_id = $2`,
        [chainId, a.studyId, str(a.refund), e.blockTime, e.blockNumber],
      );
      await ledger(tx, chainId, e, str(a.ro), 'REFUND', a.refund, str(a.studyId));
      return;
    case 'Deposited':
      await ledger(tx, chainId, e, str(a.account), 'DEPOSIT', a.amount, null);
      return;
    case 'Withdrawn':
      await ledger(tx, chainId, e, str(a.account), 'WITHDRAWAL', a.amount, null);
      return;
    case 'CredentialAttested':
      await tx.query(
        `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block)
         VALUES ($1, $2, $3, $4, $5, false, $6, $7)
         ON CONFLICT ON CONSTRAINT credentials_pk DO UPDATE
           SET states = EXCLUDED.states, modalities = EXCLUDED.modalities, expires_at = EXCLUDED.expires_at,
               revoked = false, verifier = EXCLUDED.verifier, updated_block = EXCLUDED.updated_block`,
        [
          chainId, a.radiologist, fromMask(US_STATES, BigInt(str(a.statesMask))),
          fromMask(MODALITIES, BigInt(str(a.modalitiesMask))), num(a.expiresAt), a.verifier, e.blockNumber,
        ],
      );
      return;
    case 'CredentialRevoked':
      await tx.query(
        `UPDATE credentials SET revoked = true, verifier = $3, updated_block = $4 WHERE chain_id = $1 AND radiologist = $2`,
        [chainId, a.radiologist, a.verifier, e.blockNumber],
      );
      return;
    case 'ParameterUpdated':
      await tx.query(
        `INSERT INTO incentive_parameters (chain_id, name, key, value, updated_block, tx_hash)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT incentive_parameters_pk DO UPDATE
           SET value = EXCLUDED.value, updated_block = EXCLUDED.updated_block, tx_hash = EXCLUDED.tx_hash`,
        [chainId, a.name, num(a.key), str(a.value), e.blockNumber, e.txHash],
      );
      await tx.query(
        `INSERT INTO parameter_changes (chain_id, name, key, value, block_number, block_time, tx_hash, log_index)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT ON CONSTRAINT parameter_changes_pk DO NOTHING`,
        [chainId, a.name, num(a.key), str(a.value), e.blockNumber, e.blockTime, e.txHash, e.logIndex],
      );
      return;
    case 'DelegateVotesChanged': // membership token: voting power, i.e. who is a DAO member
      await tx.query(
        `INSERT INTO dao_votes (chain_id, token, account, votes, updated_block) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT dao_votes_pk DO UPDATE SET votes = EXCLUDED.votes, updated_block = EXCLUDED.updated_block`,
        [chainId, e.contract, a.delegate, str(a.newVotes), e.blockNumber],
      );
      return;
    case 'ProposalCreated':
    case 'VoteCast':
    case 'VoteCastWithParams':
    case 'ProposalExtended':
    case 'ProposalQueued':
    case 'ProposalExecuted':
    case 'ProposalCanceled':
      await projectGovernance(tx, chainId, e);
      return;
    case 'RoleGranted':
      await tx.query(
        `INSERT INTO contract_roles (chain_id, contract, role, account, granted_by, updated_block)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT contract_roles_pk DO UPDATE
           SET granted_by = EXCLUDED.granted_by, updated_block = EXCLUDED.updated_block`,
        [chainId, e.contract, a.role, a.account, a.sender, e.blockNumber],
      );
      return;
    case 'RoleRevoked':
      await tx.query(`DELETE FROM contract_roles WHERE chain_id = $1 AND contract = $2 AND role = $3 AND account = $4`, [
        chainId, e.contract, a.role, a.account,
      ]);
      return;
    default:
      return; // stored in chain_events only (e.g. TreasuryUpdated, role changes)
  }
}

/** Governor events (OpenZeppelin 5, Tally-compatible) into governance_proposals / governance_votes. */
async function projectGovernance(tx: EntityManager, chainId: number, e: ChainEvent): Promise<void> {
  const a = e.args;
  const where = `chain_id = $1 AND governor = $2 AND proposal_id = $3`;
  const key = [chainId, e.contract, str(a.proposalId)];
  switch (e.name) {
    case 'ProposalCreated': {
      const targets = a.targets as string[];
      const values = a.values as string[];
      const calldatas = a.calldatas as string[];
      const signatures = a.signatures as string[];
      const actions = targets.map((target, i) => ({ target, value: values[i], calldata: calldatas[i], signature: signatures[i] }));
      await tx.query(
        `INSERT INTO governance_proposals (chain_id, governor, proposal_id, proposer, actions, description, vote_start, vote_end,
                                           created_block, created_tx, created_at, updated_block)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $9)
         ON CONFLICT ON CONSTRAINT governance_proposals_pk DO NOTHING`,
        [...key, a.proposer, JSON.stringify(actions), str(a.description), num(a.voteStart), num(a.voteEnd), e.blockNumber, e.txHash, e.blockTime],
      );
      return;
    }
    case 'VoteCast':
    case 'VoteCastWithParams': {
      const column = ['against_votes', 'for_votes', 'abstain_votes'][num(a.support)];
      const inserted: unknown[] = await tx.query(
        `INSERT INTO governance_votes (chain_id, governor, proposal_id, voter, support, weight, reason, tx_hash, block_number, block_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT ON CONSTRAINT governance_votes_pk DO NOTHING
         RETURNING weight`,
        [...key, a.voter, num(a.support), str(a.weight), str(a.reason ?? ''), e.txHash, e.blockNumber, e.blockTime],
      );
      if (inserted.length > 0 && column)
        await tx.query(`UPDATE governance_proposals SET ${column} = ${column} + $4, updated_block = $5 WHERE ${where}`, [...key, str(a.weight), e.blockNumber]);
      return;
    }
    case 'ProposalExtended':
      await tx.query(`UPDATE governance_proposals SET vote_end = $4, updated_block = $5 WHERE ${where}`, [...key, num(a.extendedDeadline), e.blockNumber]);
      return;
    case 'ProposalQueued':
      await tx.query(`UPDATE governance_proposals SET eta = $4, queued_at = $5, updated_block = $6 WHERE ${where}`, [
        ...key, num(a.etaSeconds), e.blockTime, e.blockNumber,
      ]);
      return;
    case 'ProposalExecuted':
      await tx.query(`UPDATE governance_proposals SET executed_at = $4, executed_tx = $5, updated_block = $6 WHERE ${where}`, [
        ...key, e.blockTime, e.txHash, e.blockNumber,
      ]);
      // the parameter changes this execution made are in the same transaction (logged before ProposalExecuted)
      await tx.query(`UPDATE parameter_changes SET proposal_id = $2 WHERE chain_id = $1 AND tx_hash = $3`, [chainId, str(a.proposalId), e.txHash]);
      return;
    case 'ProposalCanceled':
      await tx.query(`UPDATE governance_proposals SET canceled_at = $4, updated_block = $5 WHERE ${where}`, [...key, e.blockTime, e.blockNumber]);
      return;
  }
}
