import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_KINDS } from '#domain';
import { createTestDatabase } from './testing/test-database.js';

/**
 * The ledger kinds the database accepts are the domain's (libs/domain/src/ledger.ts): read back from the CHECK
 * constraints on ledger_entries.kind of a database migrated from scratch, so a kind added on one side only fails here.
 */
describe('ledger kinds: the migrations and the domain', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await testDb?.drop();
  });

  it('the CHECK on ledger_entries.kind allows exactly LEDGER_KINDS', async () => {
    const { rows } = await client.query<{ name: string; def: string }>(
      `SELECT c.conname AS name, pg_get_constraintdef(c.oid) AS def
       FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
       WHERE c.conrelid = 'ledger_entries'::regclass AND c.contype = 'c' AND a.attname = 'kind'`,
    );
    expect(rows.length, 'a CHECK constraint on ledger_entries.kind').toBeGreaterThan(0);
    for (const { name, def } of rows) {
      // e.g. CHECK ((kind = ANY (ARRAY['DEPOSIT'::text, 'WITHDRAWAL'::text, …])))
      expect(def, name).toMatch(/^CHECK \(\(kind = ANY \(ARRAY\[.*\]\)\)\)$/);
      const allowed = [...def.matchAll(/'([^']*)'::text/g)].map((m) => m[1]);
      expect([...allowed].sort(), name).toEqual([...LEDGER_KINDS].sort());
    }
  });

  it('the database refuses a kind the domain does not know', async () => {
    await expect(
      client.query(
        `INSERT INTO ledger_entries (chain_id, account, kind, amount, tx_hash, log_index, block_number, block_time)
         VALUES (1, '0x${'1'.repeat(40)}', 'BONUS', 1, '0x${'2'.repeat(64)}', 0, 1, 1)`,
      ),
    ).rejects.toThrow(/check constraint/);
  });
});
