import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Wallet } from 'ethers';
import { RateLimitRepository } from '#db';
import { PruneService } from '#settler';
import { subscribe } from './support/live.js';
import { GqlClient, GqlResult } from './support/client.js';
import { Stack, startStack } from './support/stack.js';

/** A new account for each sign-in: its per-account buckets start full, whatever another test spent. */
const someone = () => Wallet.createRandom();

const BURST = 5;
/** per client address and operation for calls without a session; every client here is 127.0.0.x */
const PUBLIC_BURST = 10;
const codes = (results: GqlResult[]) => results.map((r) => String(r.errors?.[0]?.extensions?.code ?? 'OK'));
const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

describe('abuse limits', () => {
  let stack: Stack;
  beforeAll(async () => {
    // a slow refill (one token per 10 s), so the test sees the bucket run dry
    stack = await startStack({
      api: {
        maxQueryDepth: 2,
        maxQueryComplexity: 400,
        maxRootFields: 20,
        maxTokens: 2000,
        rateLimitBurst: BURST,
        rateLimitPerSecond: 0.1,
        publicRateLimitBurst: PUBLIC_BURST,
        publicRateLimitPerSecond: 0.1,
        pruneIntervalMs: 3_600_000, // one pass at start; the test below runs one itself
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('refuses a query nested deeper than the limit with BAD_INPUT and reason QUERY_TOO_DEEP, before it runs', async () => {
    const c = new GqlClient(stack.api);
    // two levels: past validation (refused only for want of a session)
    expect(await c.code(`{ myClaims { id } a: myClaims { status } }`)).toBe('UNAUTHENTICATED');
    // three levels, hidden in fragments and an inline fragment
    const r = await c.send(
      `query Deep { ...A } fragment A on Query { worklist { ... on WorklistPage { items { ...B } } } } fragment B on Study { id }`,
    );
    expect(r.errors).toHaveLength(1);
    expect(r.errors?.[0].extensions).toEqual({ code: 'BAD_INPUT', reason: 'QUERY_TOO_DEEP' });
    expect(r.data).toBeUndefined();
  });

  it('refuses a query whose pages could select more fields than the limit with reason QUERY_TOO_COMPLEX', async () => {
    const c = new GqlClient(stack.api);
    // 3 fields × first: 100 = 300 plus roots: within 400
    expect(await c.code(`{ myClaims(first: 100) { id status lockedBounty } }`)).toBe('UNAUTHENTICATED');
    // a variable page size counts as the largest page: 2 aliases × (1 + 100 × 3) > 400
    const r = await c.send(
      `query($n: Int) { a: myClaims(first: $n) { id status lockedBounty } b: myClaims(first: $n) { id status lockedBounty } }`,
      { n: 1 },
    );
    expect(r.errors?.[0].extensions).toMatchObject({ code: 'BAD_INPUT', reason: 'QUERY_TOO_COMPLEX' });
    // introspection does not count against the depth limit
    const schema = await c.send(`{ __schema { types { name fields { name type { ofType { ofType { ofType { name } } } } } } } }`);
    expect(schema.errors).toBeUndefined();
  });

  it('gives each account its own bucket per operation and answers RATE_LIMITED once it is empty', async () => {
    const a = new GqlClient(stack.api);
    const b = new GqlClient(stack.api);
    await a.signIn(someone());
    await b.signIn(someone());
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
    await c.signIn(someone());
    expect((await c.send(`{ myCredentialApplications { id } }`)).errors).toBeUndefined();
    const db = new pg.Client({ connectionString: stack.db.url });
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

  it('limits nonce per client address: a burst ends in RATE_LIMITED, X-Forwarded-For does not escape it, other clients and signed-in accounts go on', async () => {
    const signedIn = new GqlClient(stack.api);
    await signedIn.signIn(someone());
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      const nonces = async () => Number((await db.query(`SELECT count(*) AS n FROM auth_nonces`)).rows[0].n);
      const before = await nonces();
      const flood = new GqlClient(stack.api, { localAddress: '127.0.0.2' });
      // concurrent requests cannot both spend the last token: exactly PUBLIC_BURST of 2 × PUBLIC_BURST succeed
      const results = await Promise.all(Array.from({ length: 2 * PUBLIC_BURST }, () => flood.send(`mutation { nonce { nonce } }`)));
      expect(count(codes(results), 'OK')).toBe(PUBLIC_BURST);
      expect(count(codes(results), 'RATE_LIMITED')).toBe(PUBLIC_BURST);
      const limited = results.find((r) => r.errors)!;
      expect(limited.errors).toHaveLength(1);
      expect(limited.errors![0].extensions).toEqual({ code: 'RATE_LIMITED', reason: 'TOO_MANY_REQUESTS', retryAfterSeconds: 10 });
      expect(limited.data ?? null).toBeNull();
      expect(await nonces()).toBe(before + PUBLIC_BURST);

      // X-Forwarded-For is not trusted by default: claiming to be someone else changes nothing
      const spoofer = new GqlClient(stack.api, { localAddress: '127.0.0.2', headers: { 'x-forwarded-for': '198.51.100.7' } });
      expect(await spoofer.code(`mutation { nonce { nonce } }`)).toBe('RATE_LIMITED');
      // the same client's login has its own bucket: refused for its content, not for the rate
      expect(await flood.code(`mutation { login(message: "hello", signature: "0x00") { token } }`)).toBe('BAD_INPUT');
      // another client address is unaffected
      expect((await new GqlClient(stack.api, { localAddress: '127.0.0.3' }).send(`mutation { nonce { nonce } }`)).errors).toBeUndefined();
      // a signed-in account spends its own bucket, not its address's, even from the drained address
      const sameAddress = new GqlClient(stack.api, { localAddress: '127.0.0.2' });
      sameAddress.token = signedIn.token;
      for (let i = 0; i < 3; i++) expect((await sameAddress.send(`{ myNotifications { kind } }`)).errors).toBeUndefined();
      expect(await nonces()).toBe(before + PUBLIC_BURST + 1);
    } finally {
      await db.end();
    }
  });

  it('charges every aliased public root field, and limits protected calls without a valid session per address too', async () => {
    // one request with PUBLIC_BURST aliases of indexerStatus spends the whole bucket: the next call is refused
    const c = new GqlClient(stack.api, { localAddress: '127.0.0.4' });
    const aliases = Array.from({ length: PUBLIC_BURST }, (_, i) => `s${i}: indexerStatus { indexedBlock }`).join(' ');
    const r = await c.send(`{ ${aliases} }`);
    expect(r.errors).toBeUndefined();
    expect(Object.keys(r.data)).toHaveLength(PUBLIC_BURST);
    const next = await c.send(`{ indexerStatus { indexedBlock } }`);
    expect(next.errors?.[0].extensions).toEqual({ code: 'RATE_LIMITED', reason: 'TOO_MANY_REQUESTS', retryAfterSeconds: 10 });

    // protected operations without a session (or with a made-up token) share one bucket per address
    const anonymous = new GqlClient(stack.api, { localAddress: '127.0.0.5' });
    const forged = new GqlClient(stack.api, { localAddress: '127.0.0.5' });
    forged.token = 'not-a-session';
    const results = await Promise.all(
      Array.from({ length: 2 * PUBLIC_BURST }, (_, i) =>
        (i % 2 ? forged : anonymous).send(i % 3 ? `{ myNotifications { kind } }` : `{ myClaims { id } }`),
      ),
    );
    expect(count(codes(results), 'UNAUTHENTICATED')).toBe(PUBLIC_BURST);
    expect(count(codes(results), 'RATE_LIMITED')).toBe(PUBLIC_BURST);
    for (const res of results) for (const e of res.errors ?? []) expect(e.extensions).not.toHaveProperty('stacktrace');
    // public operations of that address still have their own buckets
    expect((await anonymous.send(`mutation { nonce { nonce } }`)).errors).toBeUndefined();
  });

  it('limits public operations over graphql-ws by the address of the WebSocket, the same bucket as over HTTP', async () => {
    const { port } = stack.api.getHttpServer().address() as { port: number };
    class FromSeven extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { localAddress: '127.0.0.7' });
      }
    }
    const ws = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: FromSeven, retryAttempts: 0, lazy: true });
    const call = (query: string) =>
      new Promise<GqlResult>((resolve, reject) => {
        let result: GqlResult = {};
        ws.subscribe({ query }, { next: (r) => (result = r as GqlResult), error: reject, complete: () => resolve(result) });
      });
    try {
      const results: GqlResult[] = [];
      for (let i = 0; i < PUBLIC_BURST - 2; i++) results.push(await call(`mutation { nonce { nonce } }`));
      expect(codes(results)).toEqual(Array(PUBLIC_BURST - 2).fill('OK'));
      // the same address over HTTP spends the same bucket
      const http = new GqlClient(stack.api, { localAddress: '127.0.0.7' });
      expect((await http.send(`mutation { nonce { nonce } }`)).errors).toBeUndefined();
      expect((await http.send(`mutation { nonce { nonce } }`)).errors).toBeUndefined();
      const refused = await call(`mutation { nonce { nonce } }`);
      expect(refused.errors?.[0].extensions).toEqual({ code: 'RATE_LIMITED', reason: 'TOO_MANY_REQUESTS', retryAfterSeconds: 10 });
      expect(await http.code(`mutation { nonce { nonce } }`)).toBe('RATE_LIMITED');
    } finally {
      await ws.dispose();
    }
  });

  it('fails closed for calls without a session: when the client buckets are unavailable, nonce and login are refused', async () => {
    const c = new GqlClient(stack.api);
    const signedIn = new GqlClient(stack.api);
    await signedIn.signIn(someone());
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      await db.query(`ALTER TABLE rate_limit_client_buckets RENAME TO rate_limit_client_buckets_away`);
      const nonce = await c.send(`mutation { nonce { nonce } }`);
      expect(nonce.errors?.[0].extensions).toEqual({ code: 'RATE_LIMITED', reason: 'LIMITER_UNAVAILABLE' });
      expect(nonce.data ?? null).toBeNull();
      expect(await c.code(`mutation { login(message: "hello", signature: "0x00") { token } }`)).toBe('RATE_LIMITED');
      expect(await c.code(`{ indexerStatus { indexedBlock } }`)).toBe('RATE_LIMITED');
      expect(await c.code(`{ myClaims { id } }`)).toBe('RATE_LIMITED');
      // signed-in accounts have their own table
      expect((await signedIn.send(`{ myNotifications { kind } }`)).errors).toBeUndefined();
    } finally {
      await db.query(`ALTER TABLE rate_limit_client_buckets_away RENAME TO rate_limit_client_buckets`);
      await db.end();
    }
    expect((await c.send(`mutation { nonce { nonce } }`)).errors).toBeUndefined();
  });

  it('prunes in the running API: full buckets, expired nonces and sessions go; a drained bucket and live sign-ins stay; no address is stored', async () => {
    const live = new GqlClient(stack.api, { localAddress: '127.0.0.6' });
    await live.signIn(someone());
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      // make every client bucket but the drained ones (127.0.0.2's nonce, 127.0.0.4's indexerStatus) look idle
      const { rows: drained } = await db.query(`SELECT client, operation FROM rate_limit_client_buckets WHERE tokens < 1`);
      expect(drained.length).toBeGreaterThanOrEqual(2);
      const { rowCount: idle } = await db.query(
        `UPDATE rate_limit_client_buckets SET refilled_at = now() - interval '1 hour' WHERE tokens >= 1`,
      );
      for (const { client } of (await db.query(`SELECT client FROM rate_limit_client_buckets`)).rows) {
        expect(client).toHaveLength(32);
        for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'])
          expect((client as Buffer).includes(Buffer.from(ip))).toBe(false);
      }
      await db.query(
        `INSERT INTO auth_nonces (nonce, expires_at) VALUES ('stale', now() - interval '1 minute'), ('fresh', now() + interval '5 minutes')`,
      );
      await db.query(
        `INSERT INTO sessions (token_hash, address, chain_id, expires_at) VALUES ('stale', $1, $2, now() - interval '1 minute')`,
        ['0x' + '5'.repeat(40), stack.config.chainId],
      );
      const sessionsBefore = Number((await db.query(`SELECT count(*) AS n FROM sessions`)).rows[0].n);

      const counts = await stack.settler.get(PruneService).pass();
      expect(counts.clientBuckets).toBe(idle);
      expect(counts.nonces).toBeGreaterThanOrEqual(1);
      expect(counts.sessions).toBe(1);
      const { rows: left } = await db.query(`SELECT client, operation FROM rate_limit_client_buckets`);
      expect(left).toEqual(expect.arrayContaining(drained));
      expect(left).toHaveLength(drained.length);
      expect((await db.query(`SELECT nonce FROM auth_nonces WHERE nonce IN ('stale', 'fresh')`)).rows).toEqual([{ nonce: 'fresh' }]);
      expect(Number((await db.query(`SELECT count(*) AS n FROM sessions`)).rows[0].n)).toBe(sessionsBefore - 1);
      // a live session still works, and a pruned bucket comes back full
      expect((await live.send(`{ myNotifications { kind } }`)).errors).toBeUndefined();
      expect((await new GqlClient(stack.api).send(`mutation { nonce { nonce } }`)).errors).toBeUndefined();
    } finally {
      await db.end();
    }
  });

  /** A raw POST /graphql of `body` (bytes as given), from 127.0.0.8: status and the parsed answer. */
  const post = async (body: string, token?: string) => {
    const { port } = stack.api.getHttpServer().address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
    });
    return { status: res.status, body: (await res.json()) as GqlResult };
  };
  const TOO_LARGE = { code: 'BAD_INPUT', reason: 'REQUEST_TOO_LARGE' };

  it('reads at most 100 kB of a body before authentication; only a signed-in byte upload may be larger', async () => {
    const padding = 'A'.repeat(200_000);
    const big = (query: string) => JSON.stringify({ query, variables: { id: '0x' + '1'.repeat(64), c: padding, k: 'AA==' } });
    const UPLOAD = `mutation($id: ID!, $c: String!, $k: String!) { uploadStudyPayload(studyId: $id, ciphertext: $c, keyForRo: $k) }`;
    // anonymous: refused before anything is parsed, whatever the operation
    for (const body of [big(`{ indexerStatus { indexedBlock } }`), big(UPLOAD)]) {
      const r = await post(body);
      expect(r.status).toBe(413);
      expect(r.body.errors?.[0].extensions).toEqual(TOO_LARGE);
    }
    const signedIn = new GqlClient(stack.api);
    await signedIn.signIn(someone());
    // signed in, but not an upload (or an upload beside another field, or with the query after the variables)
    const notUploads = [
      big(`{ myNotifications { kind } }`),
      big(
        `mutation($id: ID!, $c: String!, $k: String!) { uploadStudyPayload(studyId: $id, ciphertext: $c, keyForRo: $k) nonce { nonce } }`,
      ),
      JSON.stringify({ variables: { c: padding }, query: UPLOAD }),
    ];
    for (const body of notUploads) {
      const r = await post(body, signedIn.token!);
      expect(r.status).toBe(413);
      expect(r.body.errors?.[0].extensions).toEqual(TOO_LARGE);
    }
    // a signed-in upload is read whole and reaches its resolver (refused there: this account is no depositor)
    const upload = await post(big(UPLOAD), signedIn.token!);
    expect(upload.status).toBe(200);
    expect(upload.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    // and a forged session may not send one
    expect((await post(big(UPLOAD), 'x'.repeat(43))).status).toBe(413);
    // small bodies are unaffected
    expect((await post(JSON.stringify({ query: `{ __typename }` }))).body).toEqual({ data: { __typename: 'Query' } });
  });

  it('caps root fields and aliases (introspection included) and the tokens a document may have, over HTTP and graphql-ws alike', async () => {
    const c = new GqlClient(stack.api, { localAddress: '127.0.0.9' });
    const aliasBomb = `{ ${Array.from({ length: 21 }, (_, i) => `t${i}: __typename`).join(' ')} }`;
    const wide = `{ ${'__typename '.repeat(21)} }`;
    const introspectionBomb = `{ ${Array.from({ length: 21 }, (_, i) => `s${i}: __schema { queryType { name } }`).join(' ')} }`;
    const deepIntrospection = `{ __type(name: "Query") { ${'ofType { '.repeat(14)}name${' }'.repeat(14)} } }`;
    const tooManyTokens = `{ ${'__typename '.repeat(2500)} }`;
    const expected: [string, Record<string, unknown>][] = [
      [aliasBomb, { code: 'BAD_INPUT', reason: 'TOO_MANY_ALIASES' }],
      [wide, { code: 'BAD_INPUT', reason: 'TOO_MANY_ROOT_FIELDS' }],
      [introspectionBomb, { code: 'BAD_INPUT', reason: 'TOO_MANY_ALIASES' }],
      [deepIntrospection, { code: 'BAD_INPUT', reason: 'QUERY_TOO_DEEP' }],
      [tooManyTokens, { code: 'BAD_INPUT' }],
    ];
    for (const [query, extensions] of expected) {
      const r = await c.send(query);
      expect(r.errors?.[0].extensions, query.slice(0, 40)).toEqual(extensions);
      expect(r.data ?? null).toBeNull();
    }
    expect((await c.send(tooManyTokens)).errors?.[0].message).toMatch(/more th.. 2000 tokens/);
    // the same answers over graphql-ws (the depth limit too: maxQueryDepth is 2 here)
    const signedIn = new GqlClient(stack.api);
    await signedIn.signIn(someone());
    const deep = `subscription { worklistEvents { study { id } } }`;
    for (const [query, extensions] of [...expected, [deep, { code: 'BAD_INPUT', reason: 'QUERY_TOO_DEEP' }] as const]) {
      const ws = await subscribe(stack.api, signedIn.token!, query);
      try {
        expect((await ws.next()).errors?.[0].extensions, query.slice(0, 40)).toEqual(extensions);
      } finally {
        await ws.close();
      }
    }
  });

  it('charges a request once per bucket, by how many root fields spend from it', async () => {
    const repo = stack.api.get(RateLimitRepository);
    const takeClient = vi.spyOn(repo, 'takeClient');
    try {
      // 20 protected fields without a session: one statement, 20 tokens (PUBLIC_BURST is 10: refused whole)
      const anonymous = new GqlClient(stack.api, { localAddress: '127.0.0.10' });
      const fields = Array.from({ length: 20 }, (_, i) => `c${i}: myClaims { id }`).join(' ');
      const r = await anonymous.send(`{ ${fields} }`);
      expect(takeClient).toHaveBeenCalledTimes(1);
      expect(takeClient.mock.calls[0][3]).toBe(20);
      expect(new Set(r.errors?.map((e) => e.extensions?.code))).toEqual(new Set(['RATE_LIMITED']));
      // the bucket was not touched by the refused charge: a single call still goes through to authentication
      expect(await anonymous.code(`{ myClaims { id } }`)).toBe('UNAUTHENTICATED');
      // five aliases of a public operation: one statement charging five
      takeClient.mockClear();
      const five = Array.from({ length: 5 }, (_, i) => `s${i}: indexerStatus { indexedBlock }`).join(' ');
      expect((await anonymous.send(`{ ${five} }`)).errors).toBeUndefined();
      expect(takeClient.mock.calls.map((call) => call[3])).toEqual([5]);
    } finally {
      takeClient.mockRestore();
    }
  });
});
