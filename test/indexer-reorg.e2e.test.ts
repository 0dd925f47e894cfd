import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#db/testing';
import { Activity, Chain, catchUp, cleanSnapshot, divergences, indexerConfig, reorg, snapshot, startChain } from './support/indexing.js';

describe('reorgs: after catching up, the database equals a clean index of the canonical chain, table by table', () => {
  let chain: Chain;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let activity: Activity;

  beforeAll(async () => {
    chain = await startChain();
    db = await createTestDatabase();
    activity = new Activity(chain, 5005, { governanceAndRoles: true, exchange: true }); // also DisputeResolved, RoleGranted/RoleRevoked, the exchange
    await activity.run(90);
  });
  afterAll(async () => {
    await db?.drop();
    await chain?.stop();
  });

  for (const depth of [1, 2, 5, 12, 64]) {
    it(`survives a reorg of depth ${depth} with other transactions in the new branch`, async () => {
      const config = indexerConfig(chain, db.url, { finalityDepth: 100, batchBlocks: 7 });
      await activity.run(Math.max(10, depth + 5)); // the blocks that will be replaced carry events
      while (!(await chain.provider.getBlock('latest'))!.transactions.length) await activity.run(1); // (not only a time jump)
      await catchUp(config);
      const headBefore = await chain.head();
      const replacedEvents = (await snapshot(db.url)).chain_events.filter((e) => Number(e.block_number) > headBefore - depth);
      expect(replacedEvents.length).toBeGreaterThan(0);

      await reorg(chain, activity, depth, Math.ceil(depth / 2) + 1);
      const steps = await catchUp(config);
      const r = steps.find((s) => s.reorg)?.reorg;
      expect(r, 'the reorg was detected').toBeDefined();
      expect(r!.ancestor).toBe(headBefore - depth);

      const after = await snapshot(db.url);
      // none of the replaced branch's events survive (their blocks are gone)
      const hashes = new Set(after.chain_events.map((e) => e.block_hash));
      for (const e of replacedEvents) expect(hashes.has(e.block_hash)).toBe(false);
      expect(divergences(after, await cleanSnapshot(chain))).toEqual([]);
    });
  }

  it('compared the exchange too: its history has every lease state, renewals, expired uses, misuse reports, transfers, rotations', async () => {
    const t = await snapshot(db.url);
    // (every answered lease was requested, and a renewed one granted: its fees and lines went through the comparison)
    const statuses = new Set(t.exchange_leases.map((l) => l.status));
    const has = (table: string) => t[table].length > 0;
    expect({
      denied: statuses.has('DENIED'),
      cancelled: statuses.has('CANCELLED'),
      renewed: statuses.has('RENEWED'),
      expiredUses: has('exchange_expired_uses'),
      misuseReports: has('exchange_misuse_reports'),
      transfers: t.exchange_custody_history.some((h) => h.from_ro !== null),
      rotations: t.exchange_ro_keys.some((k) => k.replaced_by !== null),
      leaseIncome: t.ledger_entries.some((l) => l.kind === 'LEASE_INCOME'),
    }).toEqual({
      denied: true,
      cancelled: true,
      renewed: true,
      expiredUses: true,
      misuseReports: true,
      transfers: true,
      rotations: true,
      leaseIncome: true,
    });
  });
});
