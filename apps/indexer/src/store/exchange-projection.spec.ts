/**
 * The imaging exchange's projection (RoDirectory and StudyCustody events into exchange_* and their ledger lines):
 * each event kind's effect, and the same tables whether the history comes block by block or in one batch, and after
 * a rollback exactly those of an index that never saw the later blocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { createDataSource, type BlockHeader, type ChainEvent } from '#db';
import { createTestDatabase } from '#db/testing';
import { EventStore, type StoreWriter } from './event-store.js';

const CHAIN = 31337;
const STREAM = 'exchange-projection-test';
const hex = (n: number | bigint, bytes: number) => '0x' + n.toString(16).padStart(bytes * 2, '0');
const addr = (n: number) => hex(0xb000 + n, 20);
const [DIRECTORY, CUSTODY] = [1, 2].map(addr);
const [ORO, NRO, AGENT, ADMIN, TREASURY] = [10, 11, 12, 13, 14].map(addr);
const STUDY = hex(0x5717d1n, 32);
const FEE = '10000000';
const WIDE = (2n ** 70n).toString(); // a key ID beyond 2^53: stored exactly

const header = (b: number): BlockHeader => ({
  blockNumber: b,
  blockHash: hex(b, 32),
  parentHash: hex(b - 1, 32),
  blockTime: 1_800_000_000 + b * 12,
});

function history(): ChainEvent[] {
  const out: ChainEvent[] = [];
  const per = new Map<number, number>();
  const log = (block: number, tx: number, contract: string, name: string, args: ChainEvent['args']) => {
    const logIndex = per.get(block) ?? 0;
    per.set(block, logIndex + 1);
    out.push({
      blockNumber: block,
      blockHash: hex(block, 32),
      blockTime: header(block).blockTime,
      txHash: hex(block * 100 + tx, 32),
      logIndex,
      contract,
      name,
      args,
    });
  };
  // block 1: two ROs admitted with their first keys; the nRO funds its exchange balance
  for (const [i, [ro, keyId]] of (
    [
      [ORO, '1'],
      [NRO, '2'],
    ] as const
  ).entries()) {
    log(1, i, DIRECTORY, 'RoAdmitted', { ro, admittedBy: ADMIN });
    log(1, i, DIRECTORY, 'RoAccountAdded', { ro, account: ro });
    log(1, i, DIRECTORY, 'RoKeyAdded', { ro, keyId, encryptionKey: hex(0xe0 + i, 32), signer: addr(20 + i) });
  }
  log(1, 3, CUSTODY, 'ExchangeDeposited', { account: NRO, amount: '100000000' });
  // block 2: the oRO's agent, a registered study, two requests
  log(2, 0, DIRECTORY, 'RoAccountAdded', { ro: ORO, account: AGENT });
  log(2, 1, CUSTODY, 'StudyRegistered', { studyId: STUDY, ro: ORO, manifestHash: hex(0xaa, 32) });
  for (const id of ['1', '2'])
    log(2, 1 + Number(id), CUSTODY, 'LeaseRequested', {
      leaseId: id,
      studyId: STUDY,
      requester: NRO,
      keyId: '2',
      period: 3600,
      fee: FEE,
      maxRenewals: 2,
    });
  // block 3: one granted (and paid), one denied (refunded)
  log(3, 0, CUSTODY, 'LeaseGranted', {
    leaseId: '1',
    studyId: STUDY,
    custodian: ORO,
    expiresAt: String(header(3).blockTime + 3600),
    wrappedKeyHash: hex(0xbb, 32),
    ciphertextHash: hex(0xcc, 32),
  });
  log(3, 0, CUSTODY, 'LeaseFeePaid', {
    leaseId: '1',
    custodian: ORO,
    toCustodian: '8000000',
    protocolFee: '1000000',
    storageShare: '1000000',
    treasury: TREASURY,
  });
  log(3, 1, CUSTODY, 'LeaseDenied', { leaseId: '2', studyId: STUDY, custodian: ORO, refund: FEE });
  // block 4 (the ancestor of the rollback below): the nRO rotates its key and requests again
  log(4, 0, DIRECTORY, 'RoKeyRevoked', { ro: NRO, keyId: '2' });
  log(4, 0, DIRECTORY, 'RoKeyAdded', { ro: NRO, keyId: WIDE, encryptionKey: hex(0xe9, 32), signer: addr(29) });
  log(4, 0, DIRECTORY, 'RoKeyRotated', { ro: NRO, oldKeyId: '2', newKeyId: WIDE });
  log(4, 1, CUSTODY, 'LeaseRequested', {
    leaseId: '3',
    studyId: STUDY,
    requester: NRO,
    keyId: WIDE,
    period: 600,
    fee: FEE,
    maxRenewals: 0,
  });
  // block 5: renewal (paid), expired use, misuse report and flag, suspension, custody transfer, cancellation, withdrawal
  log(5, 0, CUSTODY, 'LeaseRenewed', { leaseId: '1', custodian: ORO, expiresAt: String(header(5).blockTime + 3600), renewalsLeft: 1 });
  log(5, 0, CUSTODY, 'LeaseFeePaid', {
    leaseId: '1',
    custodian: ORO,
    toCustodian: '8000000',
    protocolFee: '1000000',
    storageShare: '1000000',
    treasury: TREASURY,
  });
  log(5, 1, CUSTODY, 'ExpiredUseRecorded', { leaseId: '1', account: NRO, recorder: AGENT });
  log(5, 2, CUSTODY, 'ExpiredUseRecorded', { leaseId: '1', account: NRO, recorder: AGENT });
  log(5, 3, CUSTODY, 'MisuseReported', { leaseId: '1', account: NRO, reporter: AGENT, count: 3 });
  log(5, 3, CUSTODY, 'AccountFlagged', { account: NRO, count: 3 });
  log(5, 4, DIRECTORY, 'RoSuspended', { ro: NRO, by: ADMIN });
  log(5, 5, CUSTODY, 'CustodyTransferred', { studyId: STUDY, from: ORO, to: NRO, by: AGENT });
  log(5, 6, CUSTODY, 'LeaseRequestCancelled', { leaseId: '3', requester: NRO, refund: FEE });
  log(5, 7, DIRECTORY, 'RoAccountRemoved', { ro: ORO, account: AGENT });
  log(5, 8, CUSTODY, 'ExchangeWithdrawn', { account: ORO, amount: '16000000' });
  // block 6: after review
  log(6, 0, CUSTODY, 'AccountFlagCleared', { account: NRO });
  log(6, 1, DIRECTORY, 'RoReinstated', { ro: NRO, by: ADMIN });
  return out;
}

type Row = Record<string, unknown>;

async function tables(db: DataSource): Promise<Record<string, Row[]>> {
  const q = (sql: string) => db.query(sql);
  return {
    exchange_ros: await q(`SELECT * FROM exchange_ros ORDER BY ro`),
    exchange_ro_accounts: await q(`SELECT * FROM exchange_ro_accounts ORDER BY account`),
    exchange_ro_keys: await q(`SELECT * FROM exchange_ro_keys ORDER BY key_id`),
    exchange_custody: await q(`SELECT * FROM exchange_custody ORDER BY study_id`),
    exchange_custody_history: await q(`SELECT * FROM exchange_custody_history ORDER BY study_id, block_number, log_index`),
    exchange_leases: await q(`SELECT * FROM exchange_leases ORDER BY lease_id`),
    exchange_expired_uses: await q(`SELECT * FROM exchange_expired_uses ORDER BY block_number, log_index`),
    exchange_misuse_reports: await q(`SELECT * FROM exchange_misuse_reports ORDER BY lease_id`),
    exchange_flags: await q(`SELECT * FROM exchange_flags ORDER BY account`),
    ledger_entries: await q(
      `SELECT chain_id, account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time FROM ledger_entries
       ORDER BY block_number, log_index, kind, account`,
    ),
  };
}

describe('the exchange projection', () => {
  const dbs: { testDb: Awaited<ReturnType<typeof createTestDatabase>>; ds: DataSource; writer: StoreWriter }[] = [];
  const open = async () => {
    const testDb = await createTestDatabase();
    const ds = await createDataSource(testDb.url).initialize();
    const writer = (await new EventStore(ds).tryWriter(CHAIN, STREAM))!;
    dbs.push({ testDb, ds, writer });
    return { ds, writer };
  };
  const events = history();
  const upTo = (b: number) => events.filter((e) => e.blockNumber <= b);
  const blocks = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => header(from + i));
  let perBlock: Awaited<ReturnType<typeof open>>;
  let oneBatch: Awaited<ReturnType<typeof open>>;
  let fresh: Awaited<ReturnType<typeof open>>;

  beforeAll(async () => {
    [perBlock, oneBatch, fresh] = [await open(), await open(), await open()];
    for (let b = 1; b <= 6; b++)
      await perBlock.writer.storeBatch(
        events.filter((e) => e.blockNumber === b),
        header(b),
        { blocks: [header(b)] },
      );
    await oneBatch.writer.storeBatch(events, header(6), { blocks: blocks(1, 6) });
    await fresh.writer.storeBatch(upTo(4), header(4), { blocks: blocks(1, 4) });
  });
  afterAll(async () => {
    for (const { testDb, ds, writer } of dbs) {
      await writer.release();
      await ds.destroy();
      await testDb.drop();
    }
  });

  it('projects the directory: admission, suspension and reinstatement, accounts, keys with rotation and revocation', async () => {
    const t = await tables(perBlock.ds);
    expect(t.exchange_ros.map((r) => [r.ro, r.admitted_by, r.suspended, r.updated_block])).toEqual([
      [ORO, ADMIN, false, '1'],
      [NRO, ADMIN, false, '6'],
    ]);
    expect((await tables(fresh.ds)).exchange_ros.map((r) => r.suspended)).toEqual([false, false]);
    expect(t.exchange_ro_accounts.map((r) => [r.account, r.ro, r.removed_block])).toEqual([
      [ORO, ORO, null],
      [NRO, NRO, null],
      [AGENT, ORO, '5'],
    ]);
    expect(t.exchange_ro_keys.map((k) => [k.key_id, k.ro, k.revoked_block, k.replaced_by])).toEqual([
      ['1', ORO, null, null],
      ['2', NRO, '4', WIDE],
      [WIDE, NRO, null, null],
    ]);
  });

  it('projects custody with its owner history, and every lease state with its fees', async () => {
    const t = await tables(perBlock.ds);
    expect(t.exchange_custody).toMatchObject([
      { study_id: STUDY, ro: NRO, manifest_hash: hex(0xaa, 32), registered_block: '2', updated_block: '5' },
    ]);
    expect(t.exchange_custody_history.map((h) => [h.ro, h.from_ro, h.by_account, h.block_number])).toEqual([
      [ORO, null, null, '2'],
      [NRO, ORO, AGENT, '5'],
    ]);
    expect(
      t.exchange_leases.map((l) => [
        l.lease_id,
        l.status,
        l.custodian,
        l.renewals,
        l.renewals_left,
        l.paid_to_custodian,
        l.protocol_fees,
        l.storage_share,
        l.refund,
      ]),
    ).toEqual([
      ['1', 'RENEWED', ORO, 1, 1, '16000000', '2000000', '2000000', null],
      ['2', 'DENIED', ORO, 0, 2, '0', '0', '0', FEE],
      ['3', 'CANCELLED', null, 0, 0, '0', '0', '0', FEE],
    ]);
    expect(t.exchange_leases[0]).toMatchObject({
      expires_at: String(header(5).blockTime + 3600),
      wrapped_key_hash: hex(0xbb, 32),
      ciphertext_hash: hex(0xcc, 32),
    });
    expect(t.exchange_leases[2]).toMatchObject({ key_id: WIDE, period: '600' });
    expect(t.exchange_expired_uses.map((u) => [u.lease_id, u.account, u.recorder])).toEqual([
      ['1', NRO, AGENT],
      ['1', NRO, AGENT],
    ]);
    expect(t.exchange_misuse_reports).toMatchObject([{ lease_id: '1', account: NRO, reporter: AGENT, count: 3 }]);
    expect(t.exchange_flags).toMatchObject([{ account: NRO, flagged: false, count: 3, flagged_block: '5', cleared_block: '6' }]);
  });

  it('writes the exchange money into the ledger of both ROs', async () => {
    const lines = (await tables(perBlock.ds)).ledger_entries.map((l) => [l.block_number, l.account, l.kind, l.amount, l.counterparty]);
    expect(lines).toEqual([
      ['1', NRO, 'EXCHANGE_DEPOSIT', '100000000', null],
      ['2', NRO, 'LEASE_ESCROW', FEE, null],
      ['2', NRO, 'LEASE_ESCROW', FEE, null],
      ['3', ORO, 'LEASE_INCOME', '8000000', NRO],
      ['3', NRO, 'LEASE_PAYMENT', '8000000', ORO],
      ['3', NRO, 'LEASE_PROTOCOL_FEE', '1000000', TREASURY],
      ['3', NRO, 'LEASE_STORAGE_SHARE', '1000000', null],
      ['3', NRO, 'LEASE_REFUND', FEE, ORO],
      ['4', NRO, 'LEASE_ESCROW', FEE, null],
      ['5', NRO, 'LEASE_ESCROW', FEE, ORO],
      ['5', ORO, 'LEASE_INCOME', '8000000', NRO],
      ['5', NRO, 'LEASE_PAYMENT', '8000000', ORO],
      ['5', NRO, 'LEASE_PROTOCOL_FEE', '1000000', TREASURY],
      ['5', NRO, 'LEASE_STORAGE_SHARE', '1000000', null],
      ['5', NRO, 'LEASE_REFUND', FEE, null],
      ['5', ORO, 'EXCHANGE_WITHDRAWAL', '16000000', null],
    ]);
    const leaseLines = (await tables(perBlock.ds)).ledger_entries.filter((l) => String(l.kind).startsWith('LEASE_'));
    expect(new Set(leaseLines.map((l) => l.study_id))).toEqual(new Set([STUDY]));
  });

  it('gives the same tables whether the history comes in one batch or block by block', async () => {
    expect(await tables(oneBatch.ds)).toEqual(await tables(perBlock.ds));
  });

  it('rolls back to a block exactly, and indexing the blocks again arrives at the same tables', async () => {
    const before = await tables(fresh.ds);
    const end = await tables(perBlock.ds);
    for (const { writer } of [perBlock, oneBatch]) {
      const r = await writer.rollback(header(4));
      expect(r.removed).toBe(events.length - upTo(4).length);
    }
    expect(await tables(perBlock.ds)).toEqual(before);
    expect(await tables(oneBatch.ds)).toEqual(before);
    await perBlock.writer.storeBatch(
      events.filter((e) => e.blockNumber > 4),
      header(6),
      { blocks: blocks(5, 6) },
    );
    expect(await tables(perBlock.ds)).toEqual(end);
  });
});
