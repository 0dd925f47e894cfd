import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { AccessLogRepository } from '../access-log/access-log.repository.js';
import { createDataSource } from '../data-source.js';
import { createTestDatabase } from '../testing/test-database.js';
import { ExchangeAlertsRepository, type ExchangeNotificationRow, type NotificationPosition } from './exchange-alerts.repository.js';

const CHAIN = 31337;
const T = 1_800_000_000;
const hex = (n: number, bytes: number) => '0x' + n.toString(16).padStart(bytes * 2, '0');

/**
 * Misuse reports, notifications and access alerts on real Postgres, over rows as the indexer's projection and the
 * API's access log write them: scoping to the ROs concerned, keyset pages that neither skip nor repeat (ties of time
 * included), read marks per RO, a refused fetch's lease only when it is certain, alert pages that resume.
 */
describe('ExchangeAlertsRepository on real Postgres', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let repo: ExchangeAlertsRepository;
  let log: AccessLogRepository;
  const [ORO, NRO, THIRD, AGENT] = [0xa, 0xb, 0xd, 0xc].map((n) => hex(n, 20));
  const [S1, S2] = [hex(1, 32), hex(2, 32)];
  const [ORO_ID, NRO_ID] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b'];
  const q = (text: string, values: unknown[]) => db.query(text, values);
  const lease = (id: number, study: string, requester: string, status: string, custodian: string | null) =>
    q(
      `INSERT INTO exchange_leases (chain_id, lease_id, study_id, requester, key_id, period, fee, max_renewals, renewals_left, status,
                                    custodian, requested_at, requested_block, expires_at, updated_block)
       VALUES ($1, $2, $3, $4, 2, 3600, 10, 1, 1, $5, $6, $7, 2, $8, 2)`,
      [CHAIN, id, study, requester, status, custodian, T, custodian ? T + 300 : null],
    );
  let eventId = 0;
  const event = (name: string, args: Record<string, unknown>, block: number) =>
    q(
      `INSERT INTO chain_events (id, chain_id, block_number, block_hash, block_time, tx_hash, log_index, contract, name, args)
       VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)`,
      [++eventId, CHAIN, block, hex(block, 32), T + block, hex(0x7000 + block, 32), AGENT, name, JSON.stringify(args)],
    );
  const refusedFetch = (study: string, account: string) =>
    log.append({ chainId: CHAIN, studyId: study, account, action: 'FETCH_LEASE', outcome: 'REFUSED', reason: 'LEASE_EXPIRED' });

  /** Every notification of `ros`, `first` at a time. */
  async function pages(ros: string[], roId: string, first: number): Promise<ExchangeNotificationRow[]> {
    const all: ExchangeNotificationRow[] = [];
    let after: NotificationPosition | null = null;
    for (;;) {
      const page = await repo.notifications(CHAIN, roId, ros, after, first);
      all.push(...page);
      if (page.length < first) return all;
      after = { atMs: page.at(-1)!.atMs, key: page.at(-1)!.key };
    }
  }

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    repo = new ExchangeAlertsRepository(db);
    log = new AccessLogRepository(db);
    for (const ro of [ORO, NRO, THIRD])
      await q(
        `INSERT INTO exchange_ros (chain_id, ro, admitted_by, admitted_at, admitted_block, updated_block, suspended) VALUES ($1, $2, $3, $4, 1, 1, $5)`,
        [CHAIN, ro, AGENT, T - 100, ro === NRO],
      );
    for (const [account, ro] of [
      [ORO, ORO],
      [AGENT, ORO],
      [NRO, NRO],
      [THIRD, THIRD],
    ])
      await q(`INSERT INTO exchange_ro_accounts (chain_id, account, ro, added_at, added_block) VALUES ($1, $2, $3, $4, 1)`, [
        CHAIN,
        account,
        ro,
        T - 100,
      ]);
    await q(
      `INSERT INTO exchange_custody (chain_id, study_id, ro, manifest_hash, registered_at, registered_block, updated_block)
       VALUES ($1, $2, $3, $4, $5, 1, 1), ($1, $6, $7, $4, $5, 1, 1)`,
      [CHAIN, S1, ORO, hex(0xaa, 32), T - 90, S2, THIRD],
    );
    // the nRO leases S1 from the oRO (1 granted, 2 requested: same requested_at, a tie of time), and S2 from the third RO
    await lease(1, S1, NRO, 'GRANTED', ORO);
    await lease(2, S1, NRO, 'REQUESTED', null);
    await lease(3, S2, NRO, 'GRANTED', THIRD);
  });
  afterAll(async () => {
    await db?.destroy();
    await testDb?.drop();
  });

  it("a refused fetch names the lessee's lease while it holds one grant of the study, none once it holds two", async () => {
    await refusedFetch(S1, NRO);
    const head = await repo.alertHead(CHAIN);
    const first = await repo.alertsAfter(CHAIN, { eventId: 0, logSeq: 0 }, head, 10);
    expect(first.alerts).toEqual([
      { kind: 'FETCH_REFUSED_EXPIRED', custodian: ORO, leaseId: '1', studyId: S1, account: NRO, atMs: expect.any(Number), txHash: null },
    ]);
    expect(first).toMatchObject({ last: head, full: false });
    await lease(4, S1, NRO, 'RENEWED', ORO);
    expect((await repo.alertsAfter(CHAIN, { eventId: 0, logSeq: 0 }, head, 10)).alerts[0].leaseId).toBeNull();
    await q(`DELETE FROM exchange_leases WHERE chain_id = $1 AND lease_id = 4`, [CHAIN]);
  });

  it('pages alerts from both logs by their own cursors, each to the custodian of its lease or study', async () => {
    const from = await repo.alertHead(CHAIN);
    await event('ExpiredUseRecorded', { leaseId: '1', account: NRO, recorder: AGENT }, 20);
    await event('LeaseRenewed', { leaseId: '1' }, 21); // not an alert
    await event('ExpiredUseRecorded', { leaseId: '3', account: NRO, recorder: THIRD }, 22);
    // as the projection stores them (what the notification list reads)
    await q(
      `INSERT INTO exchange_expired_uses (chain_id, lease_id, account, recorder, tx_hash, log_index, block_number, block_time)
       VALUES ($1, 1, $2, $3, $4, 0, 20, $5), ($1, 3, $2, $6, $7, 0, 22, $8)`,
      [CHAIN, NRO, AGENT, hex(0x7000 + 20, 32), T + 20, THIRD, hex(0x7000 + 22, 32), T + 22],
    );
    await refusedFetch(S2, NRO);
    await refusedFetch(S1, NRO);
    const until = await repo.alertHead(CHAIN);
    const one = await repo.alertsAfter(CHAIN, from, until, 1);
    expect(one.full).toBe(true);
    expect(one.alerts.map((a) => [a.kind, a.custodian, a.leaseId])).toEqual([
      ['EXPIRED_USE_RECORDED', ORO, '1'],
      ['FETCH_REFUSED_EXPIRED', THIRD, '3'],
    ]);
    expect(one.alerts[0]).toMatchObject({ studyId: S1, account: NRO, atMs: (T + 20) * 1000, txHash: hex(0x7000 + 20, 32) });
    const rest = await repo.alertsAfter(CHAIN, one.last, until, 10);
    expect(rest.full).toBe(false);
    expect(rest.last).toEqual(until);
    expect(rest.alerts.map((a) => [a.kind, a.custodian, a.leaseId])).toEqual([
      ['EXPIRED_USE_RECORDED', THIRD, '3'],
      ['FETCH_REFUSED_EXPIRED', ORO, '1'],
    ]);
    expect((await repo.alertsAfter(CHAIN, until, until, 10)).alerts).toEqual([]);
  });

  it('lists misuse reports per account for the reporting and the reported RO only, with the count, the flag and a cursor', async () => {
    const report = (leaseId: number, count: number, block: number) =>
      q(
        `INSERT INTO exchange_misuse_reports (chain_id, lease_id, account, reporter, count, tx_hash, log_index, block_number, block_time)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)`,
        [CHAIN, leaseId, NRO, leaseId === 1 ? AGENT : THIRD, count, hex(0x8000 + block, 32), block, T + block],
      );
    await report(1, 1, 30);
    await report(3, 2, 31);
    await q(`INSERT INTO exchange_flags (chain_id, account, flagged, count, flagged_at, flagged_block) VALUES ($1, $2, true, 2, $3, 31)`, [
      CHAIN,
      NRO,
      T + 31,
    ]);
    const [oro] = await repo.misuseAccounts(CHAIN, [ORO], null, 10);
    // the oRO sees its own report, and the chain-wide count and flag
    expect(oro).toMatchObject({ account: NRO, ro: NRO, roSuspended: true, count: 2, flagged: true, flaggedAt: T + 31 });
    expect(oro.reports.map((r) => [r.leaseId, r.reporter, r.count])).toEqual([['1', AGENT, 1]]);
    // the reported RO sees both, newest first
    const [nro] = await repo.misuseAccounts(CHAIN, [NRO], null, 10);
    expect(nro.reports.map((r) => [r.leaseId, r.studyId, r.requester, r.blockTime])).toEqual([
      ['3', S2, NRO, T + 31],
      ['1', S1, NRO, T + 30],
    ]);
    expect(await repo.misuseAccounts(CHAIN, [AGENT], null, 10)).toEqual([]); // not an RO's principal: party to none
    expect(await repo.misuseAccounts(CHAIN, [NRO], NRO, 10)).toEqual([]); // after the last account
  });

  it('lists notifications newest first in pages that neither skip nor repeat, scoped per RO, with read marks per RO', async () => {
    const full = await pages([ORO], ORO_ID, 100);
    expect(full.map((n) => n.kind).sort()).toEqual(
      ['EXPIRED_USE_RECORDED', 'FETCH_REFUSED_EXPIRED', 'FETCH_REFUSED_EXPIRED', 'LEASE_REQUESTED', 'LEASE_REQUESTED'].sort(),
    );
    for (let i = 1; i < full.length; i++) expect(full[i - 1].atMs).toBeGreaterThanOrEqual(full[i].atMs);
    // the two requests share their time: the key breaks the tie, so pages of one give the same list
    expect((await pages([ORO], ORO_ID, 1)).map((n) => n.key)).toEqual(full.map((n) => n.key));
    expect(full.filter((n) => n.kind === 'LEASE_REQUESTED').map((n) => n.key)).toEqual(['req:2', 'req:1']);
    expect(full.find((n) => n.kind === 'EXPIRED_USE_RECORDED')).toMatchObject({ key: 'xu:20:0', leaseId: '1', studyId: S1, account: NRO });

    const lessee = await pages([NRO], NRO_ID, 100);
    expect(lessee.map((n) => [n.kind, n.leaseId ?? n.account, n.count])).toEqual([
      ['MISUSE_REPORTED', '3', 2], // the report and the flag share a block time: the key orders them
      ['ACCOUNT_FLAGGED', NRO, 2],
      ['MISUSE_REPORTED', '1', 1],
    ]);
    expect(await pages([AGENT], ORO_ID, 100)).toEqual([]);

    expect(await repo.markRead(CHAIN, ORO_ID, [full[0].key, full[1].key], ORO)).toBe(2);
    expect(await repo.markRead(CHAIN, ORO_ID, [full[0].key], AGENT)).toBe(0);
    expect((await pages([ORO], ORO_ID, 100)).map((n) => n.read)).toEqual(full.map((_, i) => i < 2));
    // another RO's marks are its own
    expect((await pages([ORO], NRO_ID, 100)).every((n) => !n.read)).toBe(true);
  });
});
