import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { createDataSource } from '../data-source.js';
import { createTestDatabase } from '../testing/test-database.js';
import { ExchangeRepository } from './exchange.repository.js';

const CHAIN = 31337;
const T = 1_800_000_000;
const hex = (n: number, bytes: number) => '0x' + n.toString(16).padStart(bytes * 2, '0');

/** The exchange's reads on real Postgres, over rows as the indexer's projection writes them. */
describe('ExchangeRepository on real Postgres', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let repo: ExchangeRepository;
  const [ORO, NRO, AGENT, THIRD] = [0xa, 0xb, 0xc, 0xd].map((n) => hex(n, 20));
  const [S1, S2] = [hex(1, 32), hex(2, 32)];
  const setNow = (t: number) =>
    db.query(`UPDATE indexer_checkpoints SET block_time = $1 WHERE chain_id = $2`, [t, CHAIN]).then(() => undefined);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    repo = new ExchangeRepository(db);
    const q = (text: string, values: unknown[]) => db.query(text, values);
    await q(`INSERT INTO indexer_checkpoints (chain_id, stream, block_number, block_time) VALUES ($1, 'test', 10, $2)`, [CHAIN, T]);
    for (const ro of [ORO, NRO, THIRD])
      await q(
        `INSERT INTO exchange_ros (chain_id, ro, admitted_by, admitted_at, admitted_block, updated_block) VALUES ($1, $2, $3, $4, 1, 1)`,
        [CHAIN, ro, AGENT, T - 100],
      );
    for (const [account, ro, removed] of [
      [ORO, ORO, null],
      [AGENT, ORO, null],
      [NRO, NRO, null],
      [THIRD, THIRD, 5],
    ] as const)
      await q(
        `INSERT INTO exchange_ro_accounts (chain_id, account, ro, added_at, added_block, removed_block) VALUES ($1, $2, $3, $4, 1, $5)`,
        [CHAIN, account, ro, T - 100, removed],
      );
    await q(
      `INSERT INTO exchange_ro_keys (chain_id, key_id, ro, encryption_key, signer, added_at, added_block, revoked_at, revoked_block, replaced_by)
       VALUES ($1, 1, $2, $3, $2, $4, 1, $4, 2, 2), ($1, 2, $2, $5, $2, $4, 2, NULL, NULL, NULL)`,
      [CHAIN, NRO, hex(0xe1, 32), T - 50, hex(0xe2, 32)],
    );
    await q(
      `INSERT INTO exchange_custody (chain_id, study_id, ro, manifest_hash, registered_at, registered_block, updated_block)
       VALUES ($1, $2, $3, $4, $5, 1, 3), ($1, $6, $7, $4, $5, 1, 1)`,
      [CHAIN, S1, ORO, hex(0xaa, 32), T - 90, S2, NRO],
    );
    await q(
      `INSERT INTO exchange_custody_history (chain_id, study_id, ro, from_ro, by_account, tx_hash, log_index, block_number, block_time)
       VALUES ($1, $2, $3, NULL, NULL, $4, 0, 1, $5), ($1, $2, $6, $3, $3, $7, 0, 3, $8), ($1, $2, $3, $6, $6, $9, 1, 3, $8)`,
      [CHAIN, S1, ORO, hex(0x71, 32), T - 90, THIRD, hex(0x73, 32), T - 80, hex(0x74, 32)],
    );
    // 1: granted, runs until T + 100; 2: requested (its custodian is the study's); 3: denied; 4: renewed, ran out at T - 1;
    // 5: the nRO holds the study and the oRO asked
    const lease = (id: number, study: string, requester: string, status: string, custodian: string | null, expiresAt: number | null) =>
      q(
        `INSERT INTO exchange_leases (chain_id, lease_id, study_id, requester, key_id, period, fee, max_renewals, renewals_left, status,
                                      custodian, requested_at, requested_block, expires_at, updated_block)
         VALUES ($1, $2, $3, $4, 2, 3600, 10, 1, 1, $5, $6, $7, 2, $8, 2)`,
        [CHAIN, id, study, requester, status, custodian, T - 60 + id, expiresAt],
      );
    await lease(1, S1, NRO, 'GRANTED', ORO, T + 100);
    await lease(2, S1, NRO, 'REQUESTED', null, null);
    await lease(3, S1, NRO, 'DENIED', ORO, null);
    await lease(4, S1, NRO, 'RENEWED', ORO, T - 1);
    await lease(5, S2, ORO, 'REQUESTED', null, null);
    for (const [block, log] of [
      [4, 0],
      [4, 1],
    ])
      await q(
        `INSERT INTO exchange_expired_uses (chain_id, lease_id, account, recorder, tx_hash, log_index, block_number, block_time)
         VALUES ($1, 4, $2, $3, $4, $5, $6, $7)`,
        [CHAIN, NRO, AGENT, hex(0x80 + log, 32), log, block, T],
      );
    await q(
      `INSERT INTO exchange_misuse_reports (chain_id, lease_id, account, reporter, count, tx_hash, log_index, block_number, block_time)
       VALUES ($1, 4, $2, $3, 3, $4, 2, 4, $5)`,
      [CHAIN, NRO, AGENT, hex(0x90, 32), T],
    );
    await q(`INSERT INTO exchange_flags (chain_id, account, flagged, count, flagged_at, flagged_block) VALUES ($1, $2, true, 3, $3, 4)`, [
      CHAIN,
      NRO,
      T,
    ]);
  });
  afterAll(async () => {
    await db?.destroy();
    await testDb?.drop();
  });

  it('lists the directory with each RO’s current accounts, and an RO’s keys with rotation and revocation', async () => {
    expect(await repo.directory(CHAIN)).toEqual([
      { ro: ORO, admittedBy: AGENT, admittedAt: T - 100, suspended: false, accounts: [ORO, AGENT].sort() },
      { ro: NRO, admittedBy: AGENT, admittedAt: T - 100, suspended: false, accounts: [NRO] },
      { ro: THIRD, admittedBy: AGENT, admittedAt: T - 100, suspended: false, accounts: [] },
    ]);
    expect((await repo.keysOf(CHAIN, NRO)).map((k) => [k.keyId, k.revokedAt, k.replacedBy])).toEqual([
      ['1', T - 50, '2'],
      ['2', null, null],
    ]);
    expect(await repo.keysOf(CHAIN, ORO)).toEqual([]);
    expect(await repo.rosOfAccounts(CHAIN, [AGENT, THIRD, hex(0xff, 20)])).toEqual([ORO]); // THIRD's account was removed
  });

  it('derives EXPIRED from the indexed chain time, and tells incoming requests from all leases', async () => {
    const statuses = async (ros: string[], side: 'ANY' | 'INCOMING') =>
      (await repo.leases(CHAIN, ros, side, 100)).map((l) => [l.leaseId, l.status, l.custodian]);
    expect(await statuses([ORO], 'ANY')).toEqual([
      ['5', 'REQUESTED', NRO],
      ['4', 'EXPIRED', ORO],
      ['3', 'DENIED', ORO],
      ['2', 'REQUESTED', ORO],
      ['1', 'GRANTED', ORO],
    ]);
    expect(await statuses([ORO], 'INCOMING')).toEqual([['2', 'REQUESTED', ORO]]);
    expect(await statuses([NRO], 'INCOMING')).toEqual([['5', 'REQUESTED', NRO]]);
    expect(await statuses([THIRD], 'ANY')).toEqual([]);
    expect((await repo.leases(CHAIN, [NRO], 'ANY', 2)).map((l) => l.leaseId)).toEqual(['5', '4']);
    // chain time moves on: lease 1 runs out (exactly at expiresAt it is still valid, as isLeaseValid says)
    await setNow(T + 100);
    expect((await repo.leases(CHAIN, [ORO], 'ANY', 100)).find((l) => l.leaseId === '1')!.status).toBe('GRANTED');
    await setNow(T + 101);
    const [, , , , one] = await repo.leases(CHAIN, [ORO], 'ANY', 100);
    expect([one.leaseId, one.status, one.expiresAt]).toEqual(['1', 'EXPIRED', T + 100]);
    const four = (await repo.leases(CHAIN, [ORO], 'ANY', 100)).find((l) => l.leaseId === '4')!;
    expect([four.expiredUses, four.misuseReported, four.fee]).toEqual([2, true, 10n]);
  });

  it('answers a study’s custody with its owner history, oldest first', async () => {
    const c = await repo.custodyOf(CHAIN, S1);
    expect(c).toMatchObject({ studyId: S1, ro: ORO, manifestHash: hex(0xaa, 32), registeredAt: T - 90 });
    expect(c!.history.map((h) => [h.ro, h.fromRo, h.blockNumber])).toEqual([
      [ORO, null, 1],
      [THIRD, ORO, 3],
      [ORO, THIRD, 3],
    ]);
    expect(await repo.custodyOf(CHAIN, hex(9, 32))).toBeNull();
  });

  it('counts misuse reports per account and tells a flag', async () => {
    expect(await repo.misuseOf(CHAIN, [NRO, ORO])).toEqual([
      { account: hex(0xa, 20), reports: 0, flagged: false },
      { account: hex(0xb, 20), reports: 3, flagged: true },
    ]);
  });
});
