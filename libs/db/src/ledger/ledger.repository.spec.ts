import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { createDataSource } from '../data-source.js';
import { createTestDatabase } from '../testing/test-database.js';
import { LedgerCursor, LedgerRepository } from './ledger.repository.js';

const CHAIN = 31337;
const hex = (n: number, bytes: number) => '0x' + n.toString(16).padStart(bytes * 2, '0');

describe('LedgerRepository on real Postgres', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let ledger: LedgerRepository;
  const [walletA, walletB, stranger] = [hex(0xa, 20), hex(0xb, 20), hex(0xc, 20)];

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await createDataSource(testDb.url).initialize();
    ledger = new LedgerRepository(db);
    // one event (block 7, log 3) books four lines, three of them for the RO's two wallets; around it, other events
    const rows: [number, number, string, string][] = [
      [5, 0, 'DEPOSIT', walletA],
      [7, 3, 'REFUND', walletA],
      [7, 3, 'ESCROW', walletB],
      [7, 3, 'DEPOSIT', walletB],
      [7, 3, 'PAYOUT', stranger],
      [7, 4, 'LOCK', walletA],
      [9, 1, 'WITHDRAWAL', walletB],
    ];
    for (const [block, log, kind, account] of rows)
      await db.query(
        `INSERT INTO ledger_entries (chain_id, account, kind, amount, tx_hash, log_index, block_number, block_time)
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7)`,
        [CHAIN, account, kind, hex(block * 100 + log, 32), log, block, 1_800_000_000 + block],
      );
  });
  afterAll(async () => {
    await db?.destroy();
    await testDb?.drop();
  });

  it('pages through every line of the RO, even when a page ends inside the lines of one event', async () => {
    const all = await ledger.entries(CHAIN, [walletA, walletB], 100);
    expect(all.map((r) => `${r.blockNumber}:${r.logIndex}:${r.kind}`)).toEqual([
      '5:0:DEPOSIT',
      '7:3:DEPOSIT',
      '7:3:ESCROW',
      '7:3:REFUND',
      '7:4:LOCK',
      '9:1:WITHDRAWAL',
    ]);
    for (const size of [1, 2, 4]) {
      const seen: string[] = [];
      let after: LedgerCursor | undefined;
      for (let guard = 0; guard < 20; guard++) {
        const page = await ledger.entries(CHAIN, [walletA, walletB], size, after);
        seen.push(...page.map((r) => `${r.blockNumber}:${r.logIndex}:${r.kind}`));
        if (page.length < size) break;
        const last = page.at(-1)!;
        after = { blockNumber: last.blockNumber, logIndex: last.logIndex, kind: last.kind, account: last.account };
      }
      expect(seen, `pages of ${size}`).toEqual(all.map((r) => `${r.blockNumber}:${r.logIndex}:${r.kind}`));
    }
  });
});
