import pg from 'pg';
import { QueryFailedError } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from './unavailable.js';

describe('isDatabaseUnavailable', () => {
  it('is true for an unreachable or too slow server, also when TypeORM wraps the error', async () => {
    // nothing listens on port 1
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres', connectionTimeoutMillis: 1000 });
    const refused = await client.connect().catch((e: unknown) => e);
    expect(isDatabaseUnavailable(refused)).toBe(true);
    for (const e of [
      new Error('Query read timeout'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P03' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
    ])
      expect(isDatabaseUnavailable(new QueryFailedError('SELECT 1', [], e)), e.message).toBe(true);
  });

  it('is false for an answer the server gave: a constraint, a missing table, bad input', () => {
    for (const code of ['23505', '42P01', '22P02'])
      expect(isDatabaseUnavailable(new QueryFailedError('SELECT 1', [], Object.assign(new Error('no'), { code })))).toBe(false);
    expect(isDatabaseUnavailable(new Error('something else'))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
  });
});
