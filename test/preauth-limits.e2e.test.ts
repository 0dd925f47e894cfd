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
  headers: Record<string, string | string[] | undefined>;
  /** the body as sent */
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a GraphQL answer of any shape
  body: any;
}

/** One POST /graphql over real HTTP from `localAddress`, with a raw body (it may be refused before it is read). */
function post(stack: Stack, localAddress: string, body: string, token?: string, keepAlive = false): Promise<Answer> {
  const { port } = stack.api.getHttpServer().address() as { port: number };
  const agent = new Agent({ localAddress, keepAlive });
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
            headers: res.headers,
            text,
            body: text ? JSON.parse(text) : null,
          });
          agent.destroy();
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** GraphQL operations Apollo answered so far (its metrics plugin counts each one that reaches it). */
async function apolloRequests(stack: Stack): Promise<number> {
  const { port } = stack.api.getHttpServer().address() as { port: number };
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^openread_graphql_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
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

  it('answers introspection from a cache after the first time, the same bytes, without reaching Apollo again', async () => {
    const cache = stack.api.get(IntrospectionCache);
    const full = JSON.stringify({ query: getIntrospectionQuery() });
    const before = { misses: cache.misses, served: cache.served };
    const first = await post(stack, '127.0.0.6', full);
    const apollo = await apolloRequests(stack);
    const second = await post(stack, '127.0.0.6', full);
    expect(first.status).toBe(200);
    expect(first.body.data.__schema.queryType.name).toBe('Query');
    expect(second.status).toBe(200);
    expect(second.text).toBe(first.text);
    expect(cache.misses - before.misses).toBeLessThanOrEqual(1);
    expect(cache.served - before.served).toBeGreaterThanOrEqual(1);
    expect(await apolloRequests(stack)).toBe(apollo);
    // a query that is not introspection alone is executed every time
    const mixed = JSON.stringify({ query: `{ __typename indexerStatus { indexedBlock } }` });
    const served = cache.served;
    await post(stack, '127.0.0.6', mixed);
    await post(stack, '127.0.0.6', mixed);
    expect(cache.served).toBe(served);
    expect(await apolloRequests(stack)).toBe(apollo + 2);
  });

  it('refuses a client past its limits ahead of Express and Apollo, and closes its connection', async () => {
    const query = JSON.stringify({ query: `{ __typename }` });
    const admitted = await post(stack, '127.0.0.7', query);
    expect(admitted.status).toBe(200);
    // Express marks what it answers; the refusals below never reach it
    expect(admitted.headers['x-powered-by']).toBe('Express');
    let refused = admitted;
    for (let i = 0; i < ADDRESS_BURST + 5 && refused.status !== 429; i++) refused = await post(stack, '127.0.0.7', query);
    expect(refused.status).toBe(429);
    const apollo = await apolloRequests(stack);
    // clients that ask to keep their connections
    const small = await post(stack, '127.0.0.7', query, undefined, true);
    const large = await post(stack, '127.0.0.7', JSON.stringify({ query: `{ __typename }`, pad: 'A'.repeat(200_000) }), undefined, true);
    for (const a of [small, large]) {
      expect(a.status).toBe(429);
      expect(a.body.errors[0].extensions.code).toBe('RATE_LIMITED');
      expect(a.headers['x-powered-by']).toBeUndefined();
    }
    expect(await apolloRequests(stack)).toBe(apollo);
    // even when the client asks to keep it: a refused client pays a new connection for its next request
    expect(small.headers.connection).toBe('close');
    expect(large.headers.connection).toBe('close');
  });

  it('answers a document over the token limit without Apollo parsing it again, as Apollo would', async () => {
    const tooManyTokens = JSON.stringify({ query: `{ ${'__typename '.repeat(6000)} }` });
    const apollo = await apolloRequests(stack);
    const r = await post(stack, '127.0.0.8', tooManyTokens);
    expect(r.status).toBe(400);
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors[0].extensions).toEqual({ code: 'BAD_INPUT' });
    expect(r.body.errors[0].message).toMatch(/^Syntax Error: Document contains more th.. \d+ tokens/);
    expect(r.body.errors[0].locations).toBeDefined();
    expect(await apolloRequests(stack)).toBe(apollo);
  });

  it('refuses an anonymous body announced larger than the small limit before any of it arrives', async () => {
    const { port } = stack.api.getHttpServer().address() as { port: number };
    const agent = new Agent({ localAddress: '127.0.0.9' });
    try {
      // the body is announced but never sent: only an answer from the headers alone can end this request
      const answer = await new Promise<Answer>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/graphql',
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': 1_000_000 },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: JSON.parse(text) });
              req.destroy();
            });
          },
        );
        req.on('error', reject);
        req.write('{"query":"{ __typename }","pad":"');
      });
      expect(answer.status).toBe(413);
      expect(answer.body.errors[0].extensions).toEqual({ code: 'BAD_INPUT', reason: 'REQUEST_TOO_LARGE' });
    } finally {
      agent.destroy();
    }
  });
});
