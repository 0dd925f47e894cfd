import { type Sql, execute, join, queryRows, raw, sql } from '#db';
import type { ChainEvent } from '#db';
import { type Projection, type Runner, keyParts, linesOf, num, str } from './projection.js';

/**
 * The imaging exchange (RoDirectory and StudyCustody) into the exchange_* tables (migration 1765250000000-Exchange).
 * Entities: an RO (`xro:<ro>`), an account acting for one (`xacct:<account>`), a key (`xkey:<keyId>`; a rotation
 * belongs to the key it replaces), a study's custody with its owner history (`custody:<studyId>`), a lease with its
 * fees, expired-use records and misuse report (`xlease:<leaseId>`), an account's flag (`xflag:<account>`). Every row
 * is a function of its entity's events alone: a lease's lines read only the lease's own row (its requester), and a
 * lease's custodian before an answer is not stored (it is the study's current custodian, joined when read), nor its
 * expiry as a status (EXPIRED is derived from chain time when read), nor a revocation (CustodyRevoked marks the
 * custody row; a lease of a revoked study is read through it). StudyCustody's Deposited/Withdrawn (named
 * ExchangeDeposited/ExchangeWithdrawn by the decoder) only make ledger lines: see ledger.projection.ts.
 */
export const EXCHANGE_EVENTS = [
  'RoAdmitted',
  'RoSuspended',
  'RoReinstated',
  'RoAccountAdded',
  'RoAccountRemoved',
  'RoKeyAdded',
  'RoKeyRevoked',
  'RoKeyRotated',
  'StudyRegistered',
  'CustodyTransferred',
  'LeaseRequested',
  'LeaseGranted',
  'LeaseFeePaid',
  'LeaseDenied',
  'LeaseRequestCancelled',
  'LeaseRenewed',
  'ExpiredUseRecorded',
  'MisuseReported',
  'AccountFlagged',
  'AccountFlagCleared',
  'CustodyRevoked',
];

/** `SELECT unnest(…) AS name, …`: one column per [name, Postgres type, value per event of the run]. */
function rows(run: ChainEvent[], cols: [name: string, type: string, value: (e: ChainEvent) => unknown][]): Sql {
  return sql`SELECT ${join(
    cols.map(([name, type, value]) => sql`unnest(${run.map(value)}::${raw(type)}[]) AS ${raw(name)}`),
    ', ',
  )}`;
}

const block: [string, string, (e: ChainEvent) => unknown] = ['block', 'bigint', (e) => e.blockNumber];
const time: [string, string, (e: ChainEvent) => unknown] = ['at', 'bigint', (e) => e.blockTime];
const leaseId: [string, string, (e: ChainEvent) => unknown] = ['lease_id', 'numeric', (e) => str(e.args.leaseId)];

/** The lease rows a run touches, as they were requested: what its ledger lines need. */
interface LeaseLine {
  lease_id: string;
  requester: string;
  study_id: string;
  fee: string;
}
const leaseLines = (ledger: Parameters<Runner>[3], run: ChainEvent[], leases: LeaseLine[]) => {
  const byId = new Map(leases.map((l) => [l.lease_id, l]));
  for (const e of run) {
    const l = byId.get(str(e.args.leaseId));
    linesOf(ledger, e, l && { requester: l.requester, studyId: l.study_id, fee: l.fee });
  }
};

const suspension =
  (suspended: boolean): Runner =>
  async (tx, chainId, run) => {
    await execute(
      tx,
      sql`UPDATE exchange_ros r SET suspended = ${suspended}, updated_block = v.block
       FROM (${rows(run, [['ro', 'text', (e) => str(e.args.ro)], block])}) AS v
       WHERE r.chain_id = ${chainId} AND r.ro = v.ro`,
    );
  };

export const exchangeProjection: Projection = {
  events: EXCHANGE_EVENTS,
  entityOf(e) {
    const a = e.args;
    switch (e.name) {
      case 'RoAdmitted':
      case 'RoSuspended':
      case 'RoReinstated':
        return `xro:${a.ro}`;
      case 'RoAccountAdded':
      case 'RoAccountRemoved':
        return `xacct:${a.account}`;
      case 'RoKeyRotated':
        return `xkey:${a.oldKeyId}`;
      case 'RoKeyAdded':
      case 'RoKeyRevoked':
        return `xkey:${a.keyId}`;
      case 'StudyRegistered':
      case 'CustodyTransferred':
      case 'CustodyRevoked':
        return `custody:${a.studyId}`;
      case 'AccountFlagged':
      case 'AccountFlagCleared':
        return `xflag:${a.account}`;
      default:
        return `xlease:${a.leaseId}`;
    }
  },
  runners: {
    async RoAdmitted(tx, chainId, run) {
      await execute(
        tx,
        sql`INSERT INTO exchange_ros (chain_id, ro, admitted_by, admitted_at, admitted_block, updated_block)
         SELECT ${chainId}, v.ro, v.by, v.at, v.block, v.block
         FROM (${rows(run, [['ro', 'text', (e) => str(e.args.ro)], ['by', 'text', (e) => str(e.args.admittedBy)], time, block])}) AS v`,
      );
    },
    RoSuspended: suspension(true),
    RoReinstated: suspension(false),

    async RoAccountAdded(tx, chainId, run) {
      await execute(
        tx,
        sql`INSERT INTO exchange_ro_accounts (chain_id, account, ro, added_at, added_block)
         SELECT ${chainId}, v.account, v.ro, v.at, v.block
         FROM (${rows(run, [['account', 'text', (e) => str(e.args.account)], ['ro', 'text', (e) => str(e.args.ro)], time, block])}) AS v`,
      );
    },
    async RoAccountRemoved(tx, chainId, run) {
      await execute(
        tx,
        sql`UPDATE exchange_ro_accounts a SET removed_at = v.at, removed_block = v.block
         FROM (${rows(run, [['account', 'text', (e) => str(e.args.account)], time, block])}) AS v
         WHERE a.chain_id = ${chainId} AND a.account = v.account`,
      );
    },

    async RoKeyAdded(tx, chainId, run) {
      await execute(
        tx,
        sql`INSERT INTO exchange_ro_keys (chain_id, key_id, ro, encryption_key, signer, added_at, added_block)
         SELECT ${chainId}, v.key_id, v.ro, v.encryption_key, v.signer, v.at, v.block
         FROM (${rows(run, [
           ['key_id', 'numeric', (e) => str(e.args.keyId)],
           ['ro', 'text', (e) => str(e.args.ro)],
           ['encryption_key', 'text', (e) => str(e.args.encryptionKey)],
           ['signer', 'text', (e) => str(e.args.signer)],
           time,
           block,
         ])}) AS v`,
      );
    },
    async RoKeyRevoked(tx, chainId, run) {
      await execute(
        tx,
        sql`UPDATE exchange_ro_keys k SET revoked_at = v.at, revoked_block = v.block
         FROM (${rows(run, [['key_id', 'numeric', (e) => str(e.args.keyId)], time, block])}) AS v
         WHERE k.chain_id = ${chainId} AND k.key_id = v.key_id`,
      );
    },
    async RoKeyRotated(tx, chainId, run) {
      await execute(
        tx,
        sql`UPDATE exchange_ro_keys k SET replaced_by = v.new_key_id
         FROM (${rows(run, [
           ['key_id', 'numeric', (e) => str(e.args.oldKeyId)],
           ['new_key_id', 'numeric', (e) => str(e.args.newKeyId)],
         ])}) AS v
         WHERE k.chain_id = ${chainId} AND k.key_id = v.key_id`,
      );
    },

    async StudyRegistered(tx, chainId, run) {
      const v = rows(run, [
        ['study_id', 'text', (e) => str(e.args.studyId)],
        ['ro', 'text', (e) => str(e.args.ro)],
        ['manifest_hash', 'text', (e) => str(e.args.manifestHash)],
        ['tx_hash', 'text', (e) => e.txHash],
        ['log_index', 'int', (e) => e.logIndex],
        time,
        block,
      ]);
      await execute(
        tx,
        sql`WITH v AS (${v}),
         c AS (INSERT INTO exchange_custody (chain_id, study_id, ro, manifest_hash, registered_at, registered_block, updated_block)
               SELECT ${chainId}, study_id, ro, manifest_hash, at, block, block FROM v)
         INSERT INTO exchange_custody_history (chain_id, study_id, ro, tx_hash, log_index, block_number, block_time)
         SELECT ${chainId}, study_id, ro, tx_hash, log_index, block, at FROM v`,
      );
    },
    async CustodyTransferred(tx, chainId, run) {
      const v = rows(run, [
        ['study_id', 'text', (e) => str(e.args.studyId)],
        ['from_ro', 'text', (e) => str(e.args.from)],
        ['ro', 'text', (e) => str(e.args.to)],
        ['by_account', 'text', (e) => str(e.args.by)],
        ['tx_hash', 'text', (e) => e.txHash],
        ['log_index', 'int', (e) => e.logIndex],
        time,
        block,
      ]);
      await execute(
        tx,
        sql`WITH v AS (${v}),
         c AS (UPDATE exchange_custody c SET ro = v.ro, updated_block = v.block FROM v WHERE c.chain_id = ${chainId} AND c.study_id = v.study_id)
         INSERT INTO exchange_custody_history (chain_id, study_id, ro, from_ro, by_account, tx_hash, log_index, block_number, block_time)
         SELECT ${chainId}, study_id, ro, from_ro, by_account, tx_hash, log_index, block, at FROM v`,
      );
    },

    // the patient's revocation (through PatientLinks): the row stays, marked with the block time; the study's leases
    // are not rewritten (a lease's row is a function of its own events), readers join the custody row instead
    async CustodyRevoked(tx, chainId, run) {
      await execute(
        tx,
        sql`UPDATE exchange_custody c SET revoked_at = v.at, revoked_block = v.block, updated_block = v.block
         FROM (${rows(run, [['study_id', 'text', (e) => str(e.args.studyId)], time, block])}) AS v
         WHERE c.chain_id = ${chainId} AND c.study_id = v.study_id`,
      );
    },

    async LeaseRequested(tx, chainId, run, ledger) {
      await execute(
        tx,
        sql`INSERT INTO exchange_leases (chain_id, lease_id, study_id, requester, key_id, period, fee, max_renewals, renewals_left, status,
                                     requested_at, requested_block, updated_block)
         SELECT ${chainId}, v.lease_id, v.study_id, v.requester, v.key_id, v.period, v.fee, v.max_renewals, v.max_renewals, 'REQUESTED',
                v.at, v.block, v.block
         FROM (${rows(run, [
           leaseId,
           ['study_id', 'text', (e) => str(e.args.studyId)],
           ['requester', 'text', (e) => str(e.args.requester)],
           ['key_id', 'numeric', (e) => str(e.args.keyId)],
           ['period', 'bigint', (e) => num(e.args.period)],
           ['fee', 'numeric', (e) => str(e.args.fee)],
           ['max_renewals', 'int', (e) => num(e.args.maxRenewals)],
           time,
           block,
         ])}) AS v`,
      );
      for (const e of run) linesOf(ledger, e);
    },
    async LeaseGranted(tx, chainId, run) {
      await execute(
        tx,
        sql`UPDATE exchange_leases l SET status = 'GRANTED', custodian = v.custodian, answered_at = v.at, expires_at = v.expires_at,
              wrapped_key_hash = v.wrapped_key_hash, ciphertext_hash = v.ciphertext_hash, updated_block = v.block
         FROM (${rows(run, [
           leaseId,
           ['custodian', 'text', (e) => str(e.args.custodian)],
           ['expires_at', 'bigint', (e) => str(e.args.expiresAt)],
           ['wrapped_key_hash', 'text', (e) => str(e.args.wrappedKeyHash)],
           ['ciphertext_hash', 'text', (e) => str(e.args.ciphertextHash)],
           time,
           block,
         ])}) AS v
         WHERE l.chain_id = ${chainId} AND l.lease_id = v.lease_id`,
      );
    },
    async LeaseFeePaid(tx, chainId, run, ledger) {
      const leases = await queryRows<LeaseLine>(
        tx,
        sql`UPDATE exchange_leases l SET paid_to_custodian = l.paid_to_custodian + v.to_custodian, protocol_fees = l.protocol_fees + v.protocol_fee,
              storage_share = l.storage_share + v.storage_share, updated_block = v.block
         FROM (${rows(run, [
           leaseId,
           ['to_custodian', 'numeric', (e) => str(e.args.toCustodian)],
           ['protocol_fee', 'numeric', (e) => str(e.args.protocolFee)],
           ['storage_share', 'numeric', (e) => str(e.args.storageShare)],
           block,
         ])}) AS v
         WHERE l.chain_id = ${chainId} AND l.lease_id = v.lease_id
         RETURNING l.lease_id::text, l.requester, l.study_id, l.fee::text`,
      );
      leaseLines(ledger, run, leases);
    },
    async LeaseDenied(tx, chainId, run, ledger) {
      const leases = await queryRows<LeaseLine>(
        tx,
        sql`UPDATE exchange_leases l SET status = 'DENIED', custodian = v.custodian, answered_at = v.at, refund = v.refund, updated_block = v.block
         FROM (${rows(run, [leaseId, ['custodian', 'text', (e) => str(e.args.custodian)], ['refund', 'numeric', (e) => str(e.args.refund)], time, block])}) AS v
         WHERE l.chain_id = ${chainId} AND l.lease_id = v.lease_id
         RETURNING l.lease_id::text, l.requester, l.study_id, l.fee::text`,
      );
      leaseLines(ledger, run, leases);
    },
    async LeaseRequestCancelled(tx, chainId, run, ledger) {
      const leases = await queryRows<LeaseLine>(
        tx,
        sql`UPDATE exchange_leases l SET status = 'CANCELLED', answered_at = v.at, refund = v.refund, updated_block = v.block
         FROM (${rows(run, [leaseId, ['refund', 'numeric', (e) => str(e.args.refund)], time, block])}) AS v
         WHERE l.chain_id = ${chainId} AND l.lease_id = v.lease_id
         RETURNING l.lease_id::text, l.requester, l.study_id, l.fee::text`,
      );
      leaseLines(ledger, run, leases);
    },
    async LeaseRenewed(tx, chainId, run, ledger) {
      const leases = await queryRows<LeaseLine>(
        tx,
        sql`UPDATE exchange_leases l SET status = 'RENEWED', expires_at = v.expires_at, renewals_left = v.renewals_left,
              renewals = l.renewals + 1, updated_block = v.block
         FROM (${rows(run, [
           leaseId,
           ['expires_at', 'bigint', (e) => str(e.args.expiresAt)],
           ['renewals_left', 'int', (e) => num(e.args.renewalsLeft)],
           block,
         ])}) AS v
         WHERE l.chain_id = ${chainId} AND l.lease_id = v.lease_id
         RETURNING l.lease_id::text, l.requester, l.study_id, l.fee::text`,
      );
      leaseLines(ledger, run, leases);
    },
    async ExpiredUseRecorded(tx, chainId, run) {
      await execute(
        tx,
        sql`INSERT INTO exchange_expired_uses (chain_id, lease_id, account, recorder, tx_hash, log_index, block_number, block_time)
         SELECT ${chainId}, v.lease_id, v.account, v.recorder, v.tx_hash, v.log_index, v.block, v.at
         FROM (${rows(run, [
           leaseId,
           ['account', 'text', (e) => str(e.args.account)],
           ['recorder', 'text', (e) => str(e.args.recorder)],
           ['tx_hash', 'text', (e) => e.txHash],
           ['log_index', 'int', (e) => e.logIndex],
           time,
           block,
         ])}) AS v`,
      );
    },
    async MisuseReported(tx, chainId, run) {
      await execute(
        tx,
        sql`INSERT INTO exchange_misuse_reports (chain_id, lease_id, account, reporter, count, tx_hash, log_index, block_number, block_time)
         SELECT ${chainId}, v.lease_id, v.account, v.reporter, v.count, v.tx_hash, v.log_index, v.block, v.at
         FROM (${rows(run, [
           leaseId,
           ['account', 'text', (e) => str(e.args.account)],
           ['reporter', 'text', (e) => str(e.args.reporter)],
           ['count', 'int', (e) => num(e.args.count)],
           ['tx_hash', 'text', (e) => e.txHash],
           ['log_index', 'int', (e) => e.logIndex],
           time,
           block,
         ])}) AS v`,
      );
    },
    async AccountFlagged(tx, chainId, run) {
      await execute(
        tx,
        sql`INSERT INTO exchange_flags (chain_id, account, flagged, count, flagged_at, flagged_block)
         SELECT ${chainId}, v.account, true, v.count, v.at, v.block
         FROM (${rows(run, [['account', 'text', (e) => str(e.args.account)], ['count', 'int', (e) => num(e.args.count)], time, block])}) AS v
         ON CONFLICT ON CONSTRAINT exchange_flags_pk DO UPDATE
           SET flagged = true, count = EXCLUDED.count, flagged_at = EXCLUDED.flagged_at, flagged_block = EXCLUDED.flagged_block,
               cleared_at = NULL, cleared_block = NULL`,
      );
    },
    async AccountFlagCleared(tx, chainId, run) {
      await execute(
        tx,
        sql`UPDATE exchange_flags f SET flagged = false, cleared_at = v.at, cleared_block = v.block
         FROM (${rows(run, [['account', 'text', (e) => str(e.args.account)], time, block])}) AS v
         WHERE f.chain_id = ${chainId} AND f.account = v.account`,
      );
    },
  },
  async deleteEntities(tx, chainId, keys) {
    const one = (kind: string) => keyParts(keys, kind).map((p) => p[0]);
    const [ros, accounts, keyIds, studies, leases, flags] = ['xro', 'xacct', 'xkey', 'custody', 'xlease', 'xflag'].map(one);
    if (ros.length) await execute(tx, sql`DELETE FROM exchange_ros WHERE chain_id = ${chainId} AND ro = ANY(${ros}::text[])`);
    if (accounts.length)
      await execute(tx, sql`DELETE FROM exchange_ro_accounts WHERE chain_id = ${chainId} AND account = ANY(${accounts}::text[])`);
    if (keyIds.length)
      await execute(tx, sql`DELETE FROM exchange_ro_keys WHERE chain_id = ${chainId} AND key_id = ANY(${keyIds}::numeric[])`);
    if (studies.length) {
      await execute(tx, sql`DELETE FROM exchange_custody WHERE chain_id = ${chainId} AND study_id = ANY(${studies}::text[])`);
      await execute(tx, sql`DELETE FROM exchange_custody_history WHERE chain_id = ${chainId} AND study_id = ANY(${studies}::text[])`);
    }
    if (leases.length)
      for (const table of ['exchange_leases', 'exchange_expired_uses', 'exchange_misuse_reports'])
        await execute(tx, sql`DELETE FROM ${raw(table)} WHERE chain_id = ${chainId} AND lease_id = ANY(${leases}::numeric[])`);
    if (flags.length) await execute(tx, sql`DELETE FROM exchange_flags WHERE chain_id = ${chainId} AND account = ANY(${flags}::text[])`);
  },
};
