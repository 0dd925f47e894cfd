import { Wallet } from 'ethers';
import { getIntrospectionQuery } from 'graphql';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntrospectionCache } from '#api';
import { GqlClient } from './support/client.js';
import { Stack, startStack } from './support/stack.js';

const ADDRESS_BURST = 20;

interface Answer {
  status: number;
  retryAfter?: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a GraphQL answer of any shape
  body: any;
}

/** One POST /graphql over real HTTP from `localAddress`, with a raw body (it may be refused before it is read). */
function post(stack: Stack, localAddress: string, body: string, token?: string): Promise<Answer> {
  const { port } = stack.api.getHttpServer().address() as { port: number };
  const agent = new Agent({ localAddress });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token && { authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'] as string | undefined,
            body: text ? JSON.parse(text) : null,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('pre-auth limits in memory (before the body is read) and the introspection cache', () => {
  let stack: Stack;
  let signedIn: GqlClient;
  beforeAll(async () => {
    stack = await startStack({
      api: {
        addressInFlight: 4,
        addressBurst: ADDRESS_BURST,
        addressPerSecond: 0.01,
        tokenInFlight: 64,
        tokenBurst: 1000,
        tokenPerSecond: 100,
      },
    });
    signedIn = new GqlClient(stack.api, { localAddress: '127.0.0.3' });
    await signedIn.signIn(Wallet.createRandom());
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('refuses an anonymous flood from one address with 429 + RATE_LIMITED and Retry-After, while a signed-in client is served', async () => {
    const query = JSON.stringify({ query: `{ __typename }` });
    const mine = JSON.stringify({ query: `{ myNotifications { kind } }` });
    const [flood, served, sameAddress] = await Promise.all([
      Promise.all(Array.from({ length: 60 }, () => post(stack, '127.0.0.2', query))),
      Promise.all(Array.from({ length: 20 }, () => post(stack, '127.0.0.3', mine, signedIn.token!))),
      // a signed-in client behind the flooding address (NAT) has its own lane too
      Promise.all(Array.from({ length: 10 }, () => post(stack, '127.0.0.2', mine, signedIn.token!))),
    ]);
    const limited = flood.filter((a) => a.status === 429);
    expect(flood.filter((a) => a.status === 200).length).toBeLessThanOrEqual(ADDRESS_BURST);
    expect(limited.length).toBeGreaterThanOrEqual(60 - ADDRESS_BURST);
    for (const a of limited) {
      expect(a.body.errors[0].extensions.code).toBe('RATE_LIMITED');
      expect(['TOO_MANY_REQUESTS', 'TOO_MANY_IN_FLIGHT']).toContain(a.body.errors[0].extensions.reason);
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    for (const a of [...served, ...sameAddress]) {
      expect(a.status).toBe(200);
      expect(a.body.errors).toBeUndefined();
    }
    // the bucket is empty now: the next anonymous request is refused at once, whatever it is
    const next = await post(stack, '127.0.0.2', query);
    expect(next.status).toBe(429);
    // one token per 100 s: the client is told to wait up to that long
    const { retryAfterSeconds, ...rest } = next.body.errors[0].extensions;
    expect(rest).toEqual({ code: 'RATE_LIMITED', reason: 'TOO_MANY_REQUESTS' });
    expect(retryAfterSeconds).toBeGreaterThan(50);
    expect(retryAfterSeconds).toBeLessThanOrEqual(100);
    expect(next.retryAfter).toBe(String(retryAfterSeconds));
  });

  it('charges requests refused at parse or validation, unauthenticated ones and introspection like any other', async () => {
    const kinds = [
      `{ this is not graphql`,
      `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
      `{ myClaims { id } }`,
      getIntrospectionQuery(),
    ];
    const answers: Answer[] = [];
    // sequential: only the bucket, not the in-flight cap, refuses
    for (let i = 0; i < ADDRESS_BURST + 4; i++)
      answers.push(await post(stack, '127.0.0.4', JSON.stringify({ query: kinds[i % kinds.length] })));
    expect(answers.slice(0, ADDRESS_BURST).every((a) => a.status !== 429)).toBe(true);
    expect(answers.slice(ADDRESS_BURST).map((a) => a.status)).toEqual([429, 429, 429, 429]);
  });

  it('refuses requests past the in-flight cap of an address', async () => {
    // a new address; bodies announced but never finished keep their requests in flight
    const { port } = stack.api.getHttpServer().address() as { port: number };
    const agent = new Agent({ localAddress: '127.0.0.5' });
    const open = Array.from({ length: 4 }, () => {
      const req = request({
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': 1000 },
      });
      req.on('error', () => undefined);
      req.write('{"query":');
      return req;
    });
    try {
      // the four have reached the server once a fifth is refused
      let answer: Answer | undefined;
      for (let i = 0; i < 50 && answer?.status !== 429; i++)
        answer = await post(stack, '127.0.0.5', JSON.stringify({ query: `{ __typename }` }));
      expect(answer!.status).toBe(429);
      expect(answer!.body.errors[0].extensions.reason).toBe('TOO_MANY_IN_FLIGHT');
    } finally {
      for (const req of open) req.destroy();
      agent.destroy();
    }
  });

  it('answers introspection from a cache after the first time, the same answer', async () => {
    const cache = stack.api.get(IntrospectionCache);
    const full = JSON.stringify({ query: getIntrospectionQuery() });
    const before = { hits: cache.hits, misses: cache.misses };
    const first = await post(stack, '127.0.0.6', full);
    const second = await post(stack, '127.0.0.6', full);
    expect(first.status).toBe(200);
    expect(first.body.data.__schema.queryType.name).toBe('Query');
    expect(second.body).toEqual(first.body);
    expect(cache.misses - before.misses).toBeLessThanOrEqual(1);
    expect(cache.hits - before.hits).toBeGreaterThanOrEqual(1);
    // a query that is not introspection alone is executed every time
    const mixed = JSON.stringify({ query: `{ __typename indexerStatus { indexedBlock } }` });
    const hits = cache.hits;
    await post(stack, '127.0.0.6', mixed);
    await post(stack, '127.0.0.6', mixed);
    expect(cache.hits).toBe(hits);
  });
});
