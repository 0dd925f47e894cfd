import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GqlClient } from './support/client.js';
import { Stack, devWallet, startStack } from './support/stack.js';

const BURST = 5;

describe('abuse limits', () => {
  let stack: Stack;
  beforeAll(async () => {
    // a slow refill (one token per 10 s), so the test sees the bucket run dry
    stack = await startStack({ api: { maxQueryDepth: 2, maxQueryComplexity: 400, rateLimitBurst: BURST, rateLimitPerSecond: 0.1 } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('refuses a query nested deeper than the limit with BAD_INPUT and reason QUERY_TOO_DEEP, before it runs', async () => {
    const c = new GqlClient(stack.api);
    // two levels: past validation (refused only for want of a session)
    expect(await c.code(`{ myClaims { id } a: myClaims { status } }`)).toBe('UNAUTHENTICATED');
    // three levels, hidden in fragments and an inline fragment
    const r = await c.send(`query Deep { ...A } fragment A on Query { worklist { ... on WorklistPage { items { ...B } } } } fragment B on Study { id }`);
    expect(r.errors).toHaveLength(1);
    expect(r.errors?.[0].extensions).toEqual({ code: 'BAD_INPUT', reason: 'QUERY_TOO_DEEP' });
    expect(r.data).toBeUndefined();
  });

  it('refuses a query whose pages could select more fields than the limit with reason QUERY_TOO_COMPLEX', async () => {
    const c = new GqlClient(stack.api);
    // 3 fields × first: 100 = 300 plus roots: within 400
    expect(await c.code(`{ myClaims(first: 100) { id status lockedBounty } }`)).toBe('UNAUTHENTICATED');
    // a variable page size counts as the largest page: 2 aliases × (1 + 100 × 3) > 400
    const r = await c.send(`query($n: Int) { a: myClaims(first: $n) { id status lockedBounty } b: myClaims(first: $n) { id status lockedBounty } }`, { n: 1 });
    expect(r.errors?.[0].extensions).toMatchObject({ code: 'BAD_INPUT', reason: 'QUERY_TOO_COMPLEX' });
    // introspection does not count against the depth limit
    const schema = await c.send(`{ __schema { types { name fields { name type { ofType { ofType { ofType { name } } } } } } } }`);
    expect(schema.errors).toBeUndefined();
  });

  it('gives each account its own bucket per operation and answers RATE_LIMITED once it is empty', async () => {
    const a = new GqlClient(stack.api);
    const b = new GqlClient(stack.api);
    await a.signIn(devWallet(5, stack.provider));
    await b.signIn(devWallet(6, stack.provider));
    // concurrent requests cannot both spend the last token: exactly BURST of 3 × BURST succeed
    const results = await Promise.all(Array.from({ length: 3 * BURST }, () => a.send(`{ myNotifications { kind } }`)));
    const ok = results.filter((r) => !r.errors);
    const limited = results.filter((r) => r.errors?.[0].extensions?.code === 'RATE_LIMITED');
    expect(ok).toHaveLength(BURST);
    expect(limited).toHaveLength(2 * BURST);
    expect(limited[0].errors?.[0].extensions?.reason).toBe('TOO_MANY_REQUESTS');
    // another operation of the same account, and the same operation of another account, have their own buckets
    expect((await a.send(`{ myCredential { active } }`)).errors).toBeUndefined();
    expect((await b.send(`{ myNotifications { kind } }`)).errors).toBeUndefined();
  });

  it('fails closed: when the limiter store errors, requests are refused, not let through', async () => {
    const c = new GqlClient(stack.api);
    await c.signIn(devWallet(7, stack.provider));
    expect((await c.send(`{ myCredentialApplications { id } }`)).errors).toBeUndefined();
    const db = new pg.Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    try {
      await db.query(`ALTER TABLE rate_limit_buckets RENAME TO rate_limit_buckets_away`);
      const r = await c.send(`{ myCredentialApplications { id } }`);
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', reason: 'LIMITER_UNAVAILABLE' });
      expect(r.data?.myCredentialApplications ?? null).toBeNull();
    } finally {
      await db.query(`ALTER TABLE rate_limit_buckets_away RENAME TO rate_limit_buckets`);
      await db.end();
    }
    expect((await c.send(`{ myCredentialApplications { id } }`)).errors).toBeUndefined();
  });
});
