import { createHash } from 'node:crypto';
import { Signature, Wallet, getAddress, keccak256, toUtf8Bytes } from 'ethers';
import {
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type IntrospectionQuery,
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
} from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Access, ERROR_CODES } from '#api';
import { signInMessage } from '#devchain';
import { seededRandom } from '#domain';
import { declaredAccess } from './support/access.js';
import { Stack, apiUrl, startStack, waitFor } from './support/stack.js';

/**
 * Issue 13's black-box client: it knows only the schema (read by introspection, as any client could) and, for every
 * query, mutation and subscription, sends documents without a session, with forged and dead sessions, and with the
 * live session of a wallet that holds no role, its arguments filled with adversarial values of their GraphQL types.
 * It never gets data of a protected operation, a 5xx, an error outside the closed set or anything that reads like a
 * stack trace or internal text. Which operations are public (and so may answer) comes from the resolvers'
 * @Public/@Authenticated/@Roles metadata, the rule the guard enforces, not from a hand list. Every generated value
 * comes from one seeded PRNG (SEED), so a failure replays.
 */
const SEED = 13_2026;
const CONCURRENCY = 8;
/**
 * root fields per well-typed document: small enough that a batch of the costliest list fields stays under the
 * complexity limit (a document over it is refused as BAD_INPUT before auth, which would hide what auth answers)
 */
const BATCH = 5;
/** the one huge string a document may carry (the body limit is 100 kB before authentication) */
const HUGE = 40_000;

const CODES: readonly string[] = ERROR_CODES;
/** Codes a healthy stack never answers to anything a client sends: an unexpected exception or a dependency "outage". */
const NEVER = new Set(['INTERNAL', 'CHAIN_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'BUS_UNAVAILABLE']);
/** Text that would reveal internals: stack frames, source paths, library and driver error texts. */
const LEAKS: [string, RegExp][] = [
  ['stack frame', /\bat (?:async )?[\w$.<>[\]]+ \((?:file:|node:|\/|<anonymous>)|\bat (?:file:|node:)\/|\n\s+at \S/],
  ['source path', /\.(?:ts|js|mjs|cjs):\d+|node_modules|\/work\/|apps\/api\/src|libs\/\w+\/src/],
  ['error class', /\b(?:Type|Range|Reference|Eval|URI)Error\b|(?<!Syntax )\bError: |QueryFailedError|EntityNotFound|TypeORM/],
  ['ethers text', /\bethers\b|\bcode=[A-Z_]+|\bversion=\d|CALL_EXCEPTION|BAD_DATA|INVALID_ARGUMENT|NUMERIC_FAULT/],
  [
    'database text',
    /\bduplicate key\b|\bviolates\b|syntax error at or near|invalid input syntax|\bSQLSTATE\b|\brelation "|\bpg_\w+|\bpostgres\b/i,
  ],
  ['stacktrace key', /"stacktrace"/],
  ['node text', /\bECONN\w+|\bERR_[A-Z_]+|\[object Object\]/],
];

interface Answer {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a GraphQL answer of any shape, checked below
  body: any;
}
type GqlError = { message?: unknown; path?: unknown[]; extensions?: Record<string, unknown> };

type Mode = 'none' | 'forged' | 'roleless';
interface Doc {
  /** its root fields, each selected under its own name: `Query.worklist` … */
  ops: { op: string; field: string }[];
  operation: 'query' | 'mutation' | 'subscription';
  query: string;
  variables: Record<string, unknown>;
  /** the arguments are well-typed, unremarkable values: only the session decides the answer */
  plain: boolean;
}

describe('a black-box client that knows only the schema', () => {
  let stack: Stack;
  let url: string;
  let schema: GraphQLSchema;
  let access: Map<string, Access | undefined>;
  /** a wallet without any role; deterministic, so its address (inside messages) is the same every run */
  const nobody = new Wallet(keccak256(toUtf8Bytes(`openread blackbox ${SEED}`)));
  const other = new Wallet(keccak256(toUtf8Bytes(`openread blackbox other ${SEED}`)));
  const problems: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    url = apiUrl(stack);
    const intro = await post({ query: getIntrospectionQuery() });
    expect(intro.status).toBe(200);
    schema = buildClientSchema(intro.body.data as IntrospectionQuery);
    access = declaredAccess(stack.api);
  });
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(() => {
    problems.length = 0;
  });

  /** POST /graphql over real HTTP with a raw body (string) or JSON, and any headers. */
  async function post(body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, text, body: parsed };
  }

  const accessOf = (op: string): Access['kind'] | 'undeclared' => access.get(op)?.kind ?? 'undeclared';
  /** May this mode's caller see data of `op`? Public ones: anyone; @Authenticated: a live session (its own data). */
  const mayAnswer = (op: string, mode: Mode) => accessOf(op) === 'public' || (mode === 'roleless' && accessOf(op) === 'authenticated');

  /** Everything any answer must satisfy; `label` names the request in the report. */
  function checkAnswer(label: string, a: { status?: number; text: string; errors?: GqlError[] }) {
    if (a.status !== undefined && a.status >= 500) problems.push(`${label}: HTTP ${a.status} ${a.text.slice(0, 200)}`);
    for (const [what, re] of LEAKS) {
      const m = re.exec(a.text);
      if (m) problems.push(`${label}: ${what} in the answer: …${a.text.slice(Math.max(0, m.index - 60), m.index + 80)}…`);
    }
    for (const e of a.errors ?? []) {
      const code = String(e.extensions?.code);
      if (!CODES.includes(code)) problems.push(`${label}: code ${code} is not one of the closed set`);
      else if (NEVER.has(code)) problems.push(`${label}: ${code}: ${String(e.message).slice(0, 200)}`);
      if (typeof e.message !== 'string' || e.message.length < 8 || !/[a-z]{3}/i.test(e.message))
        problems.push(`${label}: an error without a sentence: ${JSON.stringify(e).slice(0, 200)}`);
      if (e.extensions && 'stacktrace' in e.extensions) problems.push(`${label}: a stacktrace extension`);
    }
  }

  /** An answer to a generated document of `doc`, sent as `mode`. */
  function checkDoc(doc: Doc, mode: Mode, label: string, a: Answer, overWs = false) {
    if (a.body === undefined) problems.push(`${label}: not JSON (HTTP ${a.status}): ${a.text.slice(0, 200)}`);
    const errors: GqlError[] = a.body?.errors ?? [];
    checkAnswer(label, { status: a.status, text: a.text, errors });
    if (doc.operation === 'subscription' && !overWs) {
      // subscriptions are served over graphql-ws only: over HTTP the whole document is refused before execution
      if (a.status !== 400 || !errors.length || errors.some((e) => e.extensions?.code !== 'BAD_INPUT' || e.path))
        problems.push(`${label}: a subscription over HTTP answered ${a.status} ${a.text.slice(0, 200)}`);
      if (a.body?.data) problems.push(`${label}: a subscription over HTTP answered data`);
      return;
    }
    if (doc.plain) {
      const unplaced = errors.filter((e) => !e.path);
      if (unplaced.length) problems.push(`${label}: well-typed arguments refused: ${JSON.stringify(unplaced).slice(0, 300)}`);
    }
    // a batch (sent only without a live session): the first refused non-null field nulls the whole answer and ends
    // execution, so only some fields report an error; all must be refusals
    if (doc.plain && doc.ops.length > 1) {
      const codes = errors.map((e) => e.extensions?.code);
      if (!codes.length || codes.some((c) => c !== 'UNAUTHENTICATED'))
        problems.push(`${label}: expected only UNAUTHENTICATED, got ${JSON.stringify(codes)}`);
    }
    for (const { op, field } of doc.ops) {
      const data = a.body?.data?.[field];
      if (!mayAnswer(op, mode) && data !== undefined && data !== null)
        problems.push(`${label}: data of ${op}: ${JSON.stringify(data).slice(0, 200)}`);
      // well-typed arguments: the guard, which runs before any argument is looked at, decides alone
      const kind = accessOf(op);
      if (doc.plain && doc.ops.length === 1 && kind !== 'public') {
        const expected = mode === 'roleless' ? (kind === 'roles' ? 'FORBIDDEN' : null) : 'UNAUTHENTICATED';
        const codes = errors.filter((e) => e.path?.[0] === field).map((e) => e.extensions?.code);
        if (expected && (codes.length === 0 || codes.some((c) => c !== expected)))
          problems.push(`${label}: ${op}: expected only ${expected}, got ${JSON.stringify(codes)}`);
      }
    }
  }

  function report() {
    const shown = [...new Set(problems)].slice(0, 60);
    problems.length = 0;
    return shown;
  }

  it('gets no data, no 5xx and no internal text for any operation without a session or with a forged or dead one', async () => {
    const rng = seededRandom(SEED);
    const live = await signIn(nobody);
    const loggedOut = await signIn(nobody);
    expect((await post({ query: 'mutation { logout }' }, { authorization: `Bearer ${loggedOut}` })).body.data.logout).toBe(true);
    // a session that ends by itself: the message's expiration time bounds it
    const expired = await signIn(nobody, { expirationTime: new Date(Date.now() + 3000).toISOString() });
    await waitFor('the short session to expire', async () => {
      const r = await post({ query: '{ myCredential { active } }' }, { authorization: `Bearer ${expired}` });
      return r.body?.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED';
    });
    const sessions: [string, string | undefined][] = [
      ['no token', undefined],
      ['random token', `Bearer ${base64url(rng, 32)}`],
      ['truncated token', `Bearer ${live.slice(0, -6)}`],
      ['extended token', `Bearer ${live}A`],
      ['tampered token', `Bearer ${live.slice(0, 20)}${live[20] === 'A' ? 'B' : 'A'}${live.slice(21)}`],
      ['stored hash as token', `Bearer ${createHash('sha256').update(live).digest('hex')}`],
      ['JWT (alg none)', `Bearer ${jwt({ alg: 'none', typ: 'JWT' }, { sub: nobody.address, roles: ['ADMIN'] })}`],
      ['JWT (HS256)', `Bearer ${jwt({ alg: 'HS256', typ: 'JWT' }, { address: nobody.address })}${base64url(rng, 32)}`],
      ['Basic credentials', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
      ['bare token', live],
      ['two tokens', `Bearer ${live} ${live}`],
      ['long token', `Bearer ${'A'.repeat(4000)}`],
      ['logged-out token', `Bearer ${loggedOut}`],
      ['expired token', `Bearer ${expired}`],
    ];
    const jobs: (() => Promise<void>)[] = [];
    const send = (doc: Doc, name: string, authorization: string | undefined) =>
      jobs.push(async () => {
        const a = await post({ query: doc.query, variables: doc.variables }, authorization ? { authorization } : {});
        checkDoc(doc, authorization ? 'forged' : 'none', `${label(doc)} (${name})`, a);
      });
    // every protected operation with every session, well-typed arguments, batched (many root fields to a document)
    const guarded = rootFields(schema).filter((f) => accessOf(`${f.type}.${f.field.name}`) !== 'public');
    for (const [name, authorization] of sessions) for (const doc of batches(rng, guarded)) send(doc, name, authorization);
    // every operation alone: well-typed without a session and with one of the forged ones in turn; adversarial
    // without a session and with two forged ones in turn
    rootFields(schema).forEach((field, i) => {
      const forged = (k: number) => sessions[1 + ((i + k) % (sessions.length - 1))];
      for (const [name, authorization] of [sessions[0], forged(0)]) send(generate([field], rng, true), name, authorization);
      for (const [name, authorization] of [sessions[0], forged(3), forged(8)]) send(generate([field], rng, false), name, authorization);
    });
    await pool(jobs, CONCURRENCY);
    expect(report()).toEqual([]);
  });

  it('gets no data of a role-protected operation, no 5xx and no internal text with the live session of a wallet without roles', async () => {
    const rng = seededRandom(SEED + 1);
    const jobs: (() => Promise<void>)[] = [];
    // queries share a session; each mutation gets its own, so one that ends sessions (logout) ends only its own
    const shared = await signIn(nobody);
    for (const field of rootFields(schema)) {
      const token = field.operation === 'mutation' ? await signIn(nobody) : shared;
      const docs = [generate([field], rng, true), ...Array.from({ length: 5 }, () => generate([field], rng, false))];
      for (const doc of docs)
        jobs.push(async () => {
          const a = await post({ query: doc.query, variables: doc.variables }, { authorization: `Bearer ${token}` });
          checkDoc(doc, 'roleless', `${label(doc)} (no role)`, a);
        });
    }
    await pool(jobs, CONCURRENCY);
    expect(report()).toEqual([]);
  });

  it('gets the same over graphql-ws: every operation, unauthenticated, with forged connectionParams and without a role', async () => {
    const rng = seededRandom(SEED + 2);
    const live = await signIn(nobody);
    const params: [string, Mode, unknown][] = [
      ['no connectionParams', 'none', undefined],
      ['empty connectionParams', 'none', {}],
      ['random token', 'forged', { authorization: `Bearer ${base64url(rng, 32)}` }],
      ['tampered token', 'forged', { authorization: `Bearer ${live.slice(0, -1)}${live.endsWith('A') ? 'B' : 'A'}` }],
      ['token not a string', 'forged', { authorization: { toString: 'Bearer x' } }],
      ['token as a number', 'forged', { authorization: 1e308 }],
      ['token in another header', 'forged', { Authorization: `Bearer ${live}`, headers: { authorization: `Bearer ${live}` } }],
      ['no role', 'roleless', { authorization: `Bearer ${live}` }],
    ];
    // logout over the shared socket would end the session of the others (it is tried over HTTP)
    const fields = rootFields(schema).filter((f) => f.field.name !== 'logout');
    for (const [name, mode, connectionParams] of params) {
      // not lazy: a lazy client closes its socket whenever no operation is running, and an operation caught by that
      // close would end without an answer
      const ws = createClient({
        url: url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: (e) => problems.push(`${name}: the socket failed: ${String((e as Error)?.message ?? e)}`),
        connectionParams: () => connectionParams as never,
      });
      try {
        // well-typed: batched without a live session; one by one with it (the guard must answer FORBIDDEN to each)
        const docs =
          mode === 'roleless'
            ? fields.map((f) => generate([f], rng, true))
            : batches(
                rng,
                fields.filter((f) => accessOf(`${f.type}.${f.field.name}`) !== 'public'),
              );
        // adversarial arguments for every operation: without a session, with a forged one and without a role
        // (those that fit in one frame: a larger one closes the socket, see 'cannot break the graphql-ws protocol')
        const fits = (doc: Doc) =>
          Buffer.byteLength(JSON.stringify({ query: doc.query, variables: doc.variables })) < stack.config.api.maxRequestBytes - 100;
        if (['no connectionParams', 'random token', 'no role'].includes(name))
          docs.push(...fields.map((f) => generate([f], rng, false)).filter(fits));
        const jobs = docs.map((doc) => async () => {
          const where = `${label(doc)} over graphql-ws (${name})`;
          let messages = await wsOperation(ws, doc);
          // graphql-ws' client, rarely on a loaded machine, completes an operation without passing on its answer:
          // ask once more before calling it unanswered
          if (!messages.some((m) => m.result || (m.closed && m.closed !== 'COMPLETE'))) messages = await wsOperation(ws, doc);
          for (const m of messages) {
            if (m.closed === 'COMPLETE') continue;
            if (m.closed) {
              problems.push(`${where}: ${m.closed}`);
              continue;
            }
            checkDoc(doc, mode, where, { status: 200, text: JSON.stringify(m.result), body: m.result }, true);
          }
          if (!messages.some((m) => m.result)) problems.push(`${where}: no answer`);
        });
        await pool(jobs, CONCURRENCY);
      } finally {
        await ws.dispose();
      }
    }
    expect(report()).toEqual([]);
  });

  it('cannot break the graphql-ws protocol: malformed messages close the socket with a protocol code, never an internal one', async () => {
    const wsUrl = url.replace(/^http/, 'ws');
    const init = JSON.stringify({ type: 'connection_init' });
    const subscribeMsg = (payload: unknown, id: unknown = '1') => JSON.stringify({ id, type: 'subscribe', payload });
    const cases: [string, string[]][] = [
      ['not JSON', ['{not json']],
      ['subscribe before connection_init', [subscribeMsg({ query: 'subscription { worklistEvents { kind } }' })]],
      ['connection_init twice', [init, init]],
      ['an unknown message type', [init, JSON.stringify({ type: 'hello' })]],
      ['a query that is not a string', [init, subscribeMsg({ query: 5 })]],
      ['variables that are not an object', [init, subscribeMsg({ query: '{ __typename }', variables: 'x' })]],
      ['an id that is an object', [init, subscribeMsg({ query: '{ __typename }' }, { $gt: '' })]],
      ['a document the parser refuses', [init, subscribeMsg({ query: '{'.repeat(10_000) })]],
      ['too many tokens', [init, subscribeMsg({ query: `{ ${'__typename '.repeat(6000)} }` })]],
      ['a null message', ['null']],
      ['an array message', ['[1,2,3]']],
      ['a deeply nested message', [`${'['.repeat(20_000)}${']'.repeat(20_000)}`]],
      // frames are read before authentication: no larger than an HTTP body may be
      ['a 200 kB connection_init', [JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(200_000) } })]],
    ];
    const results = await Promise.all(cases.map(([, messages]) => rawSocket(wsUrl, messages)));
    for (const [i, [name]] of cases.entries()) {
      const result = results[i];
      const label = `graphql-ws: ${name}`;
      if (result.code === 1011 || result.code === 4500)
        problems.push(`${label}: closed with an internal error ${result.code} ${result.reason}`);
      checkAnswer(label, { text: `${result.reason} ${result.received.join(' ')}`, errors: result.errors });
    }
    expect(results.at(-1)).toMatchObject({ code: 1009, received: [] });
    expect(report()).toEqual([]);
  });

  it('refuses over-limit and malformed requests with a client error, never a 5xx', async () => {
    const protectedQuery = rootFields(schema).find((f) => f.operation === 'query' && accessOf(`Query.${f.field.name}`) !== 'public')!;
    const sel = `${protectedQuery.field.name}${requiredArgsInline(protectedQuery.field)} ${selectionOf(protectedQuery.field.type, 2)}`;
    const deepPath =
      deepSelection(schema, 30) ?? `__schema { ${'types { fields { type { ofType { '.repeat(6)} name ${'} } } } '.repeat(6)} }`;
    const cases: [string, unknown, Record<string, string>?][] = [
      ['51 aliases', { query: `{ ${Array.from({ length: 51 }, (_, i) => `a${i}: ${sel}`).join(' ')} }` }],
      ['51 introspection aliases', { query: `{ ${Array.from({ length: 51 }, (_, i) => `a${i}: __typename`).join(' ')} }` }],
      ['a document 30 deep', { query: `{ ${deepPath} }` }],
      ['6,000 tokens', { query: `{ ${'__typename '.repeat(6000)} }` }],
      // the parser recurses per level: as deep as the token limit lets a literal be
      [
        'a list literal 2,400 deep',
        { query: `{ ${protectedQuery.field.name}(x: ${'['.repeat(2400)}${']'.repeat(2400)}) { __typename } }` },
      ],
      [
        'an object literal 1,600 deep',
        { query: `{ ${protectedQuery.field.name}(x: ${'{a: '.repeat(1600)}1${'}'.repeat(1600)}) { __typename } }` },
      ],
      ['a 120 kB body', { query: `{ __typename } # ${'x'.repeat(120_000)}` }],
      ['a body that is not JSON', '{"query": "{ __typename }"'],
      ['an empty body', ''],
      ['a JSON null body', 'null'],
      ['a batch of two', [{ query: '{ __typename }' }, { query: `{ ${sel} }` }]],
      ['a query that is a number', { query: 5 }],
      ['variables that are a string', { query: '{ __typename }', variables: 'x' }],
      ['an unknown operationName', { query: 'query A { __typename } query B { __typename }', operationName: 'C' }],
      ['two operations, none named', { query: 'query A { __typename } query B { __typename }' }],
      [
        'variables 30,000 deep',
        `{"query":"query($v: String) { __typename }","variables":{"v":${'['.repeat(30_000)}${']'.repeat(30_000)}}}`,
      ],
      [
        'a prototype key in variables',
        '{"query":"query($v: String) { __typename }","variables":{"__proto__":{"v":"x"},"constructor":{"prototype":{}}}}',
      ],
      ['text/plain (CSRF)', { query: 'mutation { nonce { nonce } }' }, { 'content-type': 'text/plain' }],
      ['a charset Node does not know', { query: '{ __typename }' }, { 'content-type': 'application/json; charset=utf-99' }],
      ['a content-length that lies', '{"query":"{ __typename }"}', { 'content-length': '5' }],
    ];
    for (const [name, body, headers] of cases) {
      let a: Answer;
      try {
        a = await post(body, headers);
      } catch (e) {
        // a body the client itself refuses to send (the lying content-length) is not a server answer
        if (name === 'a content-length that lies') continue;
        throw e;
      }
      checkAnswer(name, { status: a.status, text: a.text, errors: a.body?.errors });
      if (a.body?.data && Object.keys(a.body.data).some((k) => k.startsWith('a') && a.body.data[k] !== null))
        problems.push(`${name}: data for an over-limit document`);
    }
    // a GET, as a browser's link would send it: a mutation is refused, a protected query gets no data
    for (const q of ['mutation { nonce { nonce } }', `{ ${sel} }`]) {
      const res = await fetch(`${url}?query=${encodeURIComponent(q)}`, { headers: { 'apollo-require-preflight': 'true' } });
      const text = await res.text();
      checkAnswer(`GET ${q.slice(0, 30)}`, { status: res.status, text, errors: safeJson(text)?.errors });
      if (safeJson(text)?.data?.[protectedQuery.field.name]) problems.push(`GET: data of ${protectedQuery.field.name}`);
    }
    expect(report()).toEqual([]);
  });

  it('cannot sign in by replaying, re-targeting, re-dating or forging a Sign-In with Ethereum message', async () => {
    const LOGIN = `mutation($m: String!, $s: String!) { login(message: $m, signature: $s) { token address } }`;
    const nonce = async () =>
      (await post({ query: 'mutation { nonce { nonce domain uri chainId } }' })).body.data.nonce as {
        nonce: string;
        domain: string;
        uri: string;
        chainId: number;
      };
    const hour = 3600_000;
    // one genuine sign-in whose message and signature the attacker then holds
    const n0 = await nonce();
    const genuineMessage = signInMessage(n0, nobody.address);
    const genuineSignature = await nobody.signMessage(genuineMessage);
    const first = await post({ query: LOGIN, variables: { m: genuineMessage, s: genuineSignature } });
    expect(first.body.data.login.token).toBeTruthy();

    // the other valid signature of the same message: s → n − s, v flipped (ecrecover accepts it; EIP-2 wallets never make it)
    const malleate = (signature: string) => {
      const sig = Signature.from(signature);
      const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      return `${signature.slice(0, 66)}${(N - BigInt(sig.s)).toString(16).padStart(64, '0')}${sig.v === 27 ? '1c' : '1b'}`;
    };
    const market = getAddress(stack.deployment.market);
    type Attack = [string, (n: Awaited<ReturnType<typeof nonce>>) => Promise<[string, string]>];
    const signed = async (message: string, by = nobody): Promise<[string, string]> => [message, await by.signMessage(message)];
    const attacks: Attack[] = [
      ['a replayed message and signature', async () => [genuineMessage, genuineSignature]],
      ['another domain', (n) => signed(signInMessage(n, nobody.address, { domain: 'evil.example' }))],
      ['the domain with a port', (n) => signed(signInMessage(n, nobody.address, { domain: `${n.domain}:443` }))],
      ['another URI', (n) => signed(signInMessage(n, nobody.address, { uri: 'https://evil.example' }))],
      ['a URI that only starts like ours', (n) => signed(signInMessage(n, nobody.address, { uri: `${n.uri}.evil.example/` }))],
      ['a URI with our host as its user', (n) => signed(signInMessage(n, nobody.address, { uri: `https://${n.domain}@evil.example/` }))],
      ['another chain', (n) => signed(signInMessage(n, nobody.address, { chainId: 1 }))],
      ['a huge chain id', (n) => signed(signInMessage(n, nobody.address, { chainId: Number.MAX_SAFE_INTEGER }))],
      [
        'an expired message',
        (n) => signed(signInMessage(n, nobody.address, { expirationTime: new Date(Date.now() - 1000).toISOString() })),
      ],
      [
        'a message issued in the future',
        (n) => signed(signInMessage(n, nobody.address, { issuedAt: new Date(Date.now() + hour).toISOString() })),
      ],
      [
        'not valid before a future time',
        (n) => signed(signInMessage(n, nobody.address, { notBefore: new Date(Date.now() + hour).toISOString() })),
      ],
      ['a nonce never issued', (n) => signed(signInMessage({ ...n, nonce: 'abcdefgh12345678' }, nobody.address))],
      ['version 2', async (n) => signed(signInMessage(n, nobody.address).replace('Version: 1', 'Version: 2'))],
      [
        'a signature of another address',
        async (n) => [signInMessage(n, nobody.address), await other.signMessage(signInMessage(n, nobody.address))],
      ],
      ['the genuine signature of another message', async (n) => [signInMessage(n, nobody.address), genuineSignature]],
      ['a random signature', async (n) => [signInMessage(n, nobody.address), `0x${'ab'.repeat(64)}1b`]],
      [
        'a malleated (high-s) signature',
        async (n) => {
          const [m, s] = await signed(signInMessage(n, nobody.address));
          return [m, malleate(s)];
        },
      ],
      [
        'a 64-byte compact signature',
        async (n) => [
          signInMessage(n, nobody.address),
          Signature.from(await nobody.signMessage(signInMessage(n, nobody.address))).compactSerialized,
        ],
      ],
      [
        'a signature with v = 0x2b',
        async (n) => {
          const [m, s] = await signed(signInMessage(n, nobody.address));
          return [m, `${s.slice(0, -2)}${s.endsWith('1b') ? '2b' : '2c'}`];
        },
      ],
      ['an empty signature', async (n) => [signInMessage(n, nobody.address), '0x']],
      ['a signature that is not hex', async (n) => [signInMessage(n, nobody.address), 'not a signature \u0000']],
      ['a 5,000-byte signature', async (n) => [signInMessage(n, nobody.address), `0x${'ff'.repeat(5000)}`]],
      ['a contract as the address', async (n) => [signInMessage(n, market), `0x${'ab'.repeat(64)}1b`]],
      ['the zero address', async (n) => [signInMessage(n, '0x0000000000000000000000000000000000000000'), `0x${'00'.repeat(65)}`]],
      [
        'a precompile as the address',
        async (n) => [signInMessage(n, '0x0000000000000000000000000000000000000001'), `0x${'ab'.repeat(64)}1b`],
      ],
      [
        'an address with a bad checksum',
        async (n) =>
          signed(
            signInMessage(n, nobody.address).replace(
              nobody.address,
              nobody.address.toLowerCase().replace(/[a-f]/, (c) => c.toUpperCase()),
            ),
          ),
      ],
      [
        'NUL and control characters in the statement',
        async (n) => signed(signInMessage(n, nobody.address).replace('Sign in to OpenRead', 'Sign\u0000in\u0007to\u001bOpenRead')),
      ],
      ['CRLF line ends', async (n) => signed(signInMessage(n, nobody.address).replace(/\n/g, '\r\n'))],
      ['two nonces', async (n) => signed(`${signInMessage(n, nobody.address)}\nNonce: ${(await nonce()).nonce}`)],
      [
        'a statement that adds a URI line',
        async (n) => signed(signInMessage(n, nobody.address).replace('Sign in to OpenRead', 'Sign in\nURI: https://evil.example')),
      ],
      [
        'a message 90 kB long',
        async (n) => signed(`${signInMessage(n, nobody.address)}\n${'Resources:\n'}${'- https://x.example/\n'.repeat(4000)}`),
      ],
      ['not a sign-in message', async () => signed('hello')],
      ['an empty message', async () => ['', genuineSignature]],
    ];
    for (const [name, make] of attacks) {
      const [m, s] = await make(await nonce());
      const a = await post({ query: LOGIN, variables: { m, s } });
      const label = `login with ${name}`;
      checkAnswer(label, { status: a.status, text: a.text, errors: a.body?.errors });
      if (a.body?.data?.login) problems.push(`${label}: signed in as ${a.body.data.login.address}`);
      const codes = (a.body?.errors ?? []).map((e: GqlError) => e.extensions?.code);
      if (!codes.length || codes.some((c: unknown) => c !== 'UNAUTHENTICATED' && c !== 'BAD_INPUT'))
        problems.push(`${label}: codes ${JSON.stringify(codes)}`);
    }
    expect(report()).toEqual([]);
  });

  /** A live session of `wallet` over HTTP (nonce → EIP-4361 → login), as a wallet would make it. */
  async function signIn(wallet: Wallet, overrides: Parameters<typeof signInMessage>[2] = {}): Promise<string> {
    const n = (await post({ query: 'mutation { nonce { nonce domain uri chainId } }' })).body.data.nonce;
    const message = signInMessage(n, wallet.address, overrides);
    const r = await post({
      query: 'mutation($m: String!, $s: String!) { login(message: $m, signature: $s) { token } }',
      variables: { m: message, s: await wallet.signMessage(message) },
    });
    if (!r.body?.data?.login) throw new Error(`sign-in failed: ${r.text}`);
    return r.body.data.login.token;
  }
});

// ---- the generator: documents from the schema alone ----------------------------------------------------------

type Rng = ReturnType<typeof seededRandom>;
interface RootField {
  operation: 'query' | 'mutation' | 'subscription';
  type: string;
  field: GraphQLField<unknown, unknown>;
}

function rootFields(schema: GraphQLSchema): RootField[] {
  const roots: [RootField['operation'], GraphQLObjectType | null | undefined][] = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()],
  ];
  return roots.flatMap(([operation, type]) =>
    type ? Object.values(type.getFields()).map((field) => ({ operation, type: type.name, field })) : [],
  );
}

/** Every leaf of the type, and the leaves of its objects down to `depth` levels (objects below that: __typename). */
function selectionOf(type: GraphQLOutputType, depth: number): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return '';
  if (!(isObjectType(named) || isInterfaceType(named)) || depth <= 0) return '{ __typename }';
  const parts = ['__typename'];
  for (const f of Object.values(named.getFields())) {
    if (f.args.some((a) => isNonNullType(a.type))) continue;
    parts.push(isLeafType(getNamedType(f.type)) ? f.name : `${f.name} ${selectionOf(f.type, depth - 1)}`);
  }
  return `{ ${parts.join(' ')} }`;
}

/** A selection `depth` levels deep through the schema's object types (types may repeat), or null if there is none. */
function deepSelection(schema: GraphQLSchema, depth: number): string | null {
  const walk = (type: GraphQLOutputType, left: number, seen: number): string | null => {
    const named = getNamedType(type);
    if (left === 0) return isLeafType(named) ? '' : '{ __typename }';
    if (!(isObjectType(named) || isInterfaceType(named)) || seen > 2000) return null;
    for (const f of Object.values(named.getFields())) {
      if (f.args.some((a) => isNonNullType(a.type)) || isLeafType(getNamedType(f.type))) continue;
      const inner = walk(f.type, left - 1, seen + 1);
      if (inner !== null) return `{ ${f.name} ${inner} }`;
    }
    return null;
  };
  for (const f of Object.values(schema.getQueryType()!.getFields())) {
    if (f.args.some((a) => isNonNullType(a.type))) continue;
    const inner = walk(f.type, depth - 1, 0);
    if (inner !== null) return `${f.name} ${inner}`;
  }
  return null;
}

function requiredArgsInline(field: GraphQLField<unknown, unknown>): string {
  const args = field.args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined);
  if (!args.length) return '';
  const rng = seededRandom(1);
  return `(${args.map((a) => `${a.name}: ${literal(plainValue(a.type, rng), a.type)}`).join(', ')})`;
}

/** The name a report gives a document: its operation, or how many it batches. */
function label(doc: Doc): string {
  return `${doc.ops.length === 1 ? doc.ops[0].op : `${doc.ops.length} ${doc.operation} fields`} (${doc.plain ? 'plain' : 'adversarial'})`;
}

/** Well-typed documents for `fields`, up to BATCH root fields each (a subscription selects one). */
function batches(rng: Rng, fields: RootField[]): Doc[] {
  const docs: Doc[] = [];
  for (const operation of ['query', 'mutation', 'subscription'] as const) {
    const of = fields.filter((f) => f.operation === operation);
    const size = operation === 'subscription' ? 1 : BATCH;
    for (let i = 0; i < of.length; i += size) docs.push(generate(of.slice(i, i + size), rng, true));
  }
  return docs;
}

/**
 * One document selecting `roots` (of one operation type): their arguments well-typed and unremarkable (`plain`), or
 * adversarial values of their types, as variables or (one time in four) inline literals.
 */
function generate(roots: RootField[], rng: Rng, plain: boolean): Doc {
  const operation = roots[0].operation;
  const defs: string[] = [];
  const selections: string[] = [];
  const variables: Record<string, unknown> = {};
  const budget = { huge: 1 };
  roots.forEach(({ field }, n) => {
    const inline = !plain && rng.next() < 0.25;
    const args: string[] = [];
    field.args.forEach((arg, i) => {
      const required = isNonNullType(arg.type) && arg.defaultValue === undefined;
      let value: unknown;
      if (plain) {
        if (!required && rng.next() < 0.5) return;
        value = plainValue(arg.type, rng);
      } else {
        const roll = rng.next();
        if (roll < 0.05) return; // missing (refused if required)
        value = roll < 0.1 ? null : attackValue(arg.type, rng, budget);
      }
      if (inline) args.push(`${arg.name}: ${literal(value, arg.type)}`);
      else {
        variables[`f${n}a${i}`] = value;
        defs.push(`$f${n}a${i}: ${arg.type.toString()}`);
        args.push(`${arg.name}: $f${n}a${i}`);
      }
    });
    selections.push(`${field.name}${args.length ? `(${args.join(', ')})` : ''} ${selectionOf(field.type, 2)}`);
  });
  const query = `${operation} Attack${defs.length ? `(${defs.join(', ')})` : ''} { ${selections.join(' ')} }`;
  return { ops: roots.map((r) => ({ op: `${r.type}.${r.field.name}`, field: r.field.name })), operation, query, variables, plain };
}

function plainValue(type: GraphQLInputType, rng: Rng): unknown {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return [plainValue(inner.ofType, rng)];
  if (isEnumType(inner)) return inner.getValues()[0].name;
  if (isInputObjectType(inner)) return Object.fromEntries(Object.values(inner.getFields()).map((f) => [f.name, plainValue(f.type, rng)]));
  switch (inner.name) {
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return true;
    case 'DateTime':
      return '2026-01-01T00:00:00.000Z';
    case 'ID':
      return `0x${'11'.repeat(32)}`;
    default:
      return 'x';
  }
}

const STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0001\u0008\u001b[31m\u007f',
  '\r\n\r\nX-Injected: 1',
  '\u202e\u200b\ufeff\u2028',
  '😀'.repeat(500),
  '\ud800',
  'Z\u0351\u0352\u0353'.repeat(200),
  "' OR '1'='1",
  "'; DROP TABLE sessions; --",
  '" OR ""="',
  '\\',
  '%_%',
  '$1',
  ':name',
  '{"$gt":""}',
  '{"__proto__":{"admin":true}}',
  '__proto__',
  'constructor',
  '${jndi:ldap://example.invalid/a}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  'eyJhbGciOiJub25lIn0.e30.',
  '!!!!',
  'AAAA',
  '-1',
  '-0',
  '0',
  '1e400',
  '1.5',
  'NaN',
  'Infinity',
  '0x',
  '0x-1',
  '9'.repeat(100),
  (2n ** 256n).toString(),
  (2n ** 256n - 1n).toString(),
  (2n ** 63n).toString(),
  `0x${'1'.repeat(39)}`,
  `0x${'1'.repeat(41)}`,
  `0x${'g'.repeat(40)}`,
  `0x${'0'.repeat(40)}`,
  `0X${'A'.repeat(40)}`,
  ` 0x${'a'.repeat(40)}`,
  `0x${'1'.repeat(63)}`,
  `0x${'1'.repeat(65)}`,
  `0x${'0'.repeat(64)}`,
  `0x${'f'.repeat(64)}`,
  `0x${'ab'.repeat(65)}`,
  `0x${'ab'.repeat(2000)}`,
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '2026-13',
  '0000-00',
  '9999-12',
  '2026-02-30T25:61:61Z',
];
const INTS: readonly unknown[] = [-1, 0, -2147483648, 2147483647, 2147483648, 1.5, '1', 'NaN', 1e308, true, [], {}];
const DATES: readonly unknown[] = [
  '0001-01-01T00:00:00.000Z',
  '+275760-09-13T00:00:00.000Z',
  '-271821-04-20T00:00:00.000Z',
  '1970-01-01T00:00:00.000Z',
  '9999-12-31T23:59:59.999Z',
  '2026-01-01',
  '2026-01-01T00:00:00+99:00',
  'now',
  '',
  0,
  -1e20,
  1e20,
];

/** An adversarial value of `type`: mostly of that type's shape, sometimes of another. */
function attackValue(type: GraphQLInputType, rng: Rng, budget: { huge: number }): unknown {
  const inner = isNonNullType(type) ? type.ofType : type;
  const roll = rng.next();
  if (isListType(inner)) {
    if (roll < 0.15) return [];
    if (roll < 0.3) return Array.from({ length: 500 }, () => plainValue(inner.ofType, rng)); // enormous, within the body limit
    if (roll < 0.35) return nested(1000, 'list');
    if (roll < 0.4) return attackValue(inner.ofType, rng, budget); // a single value where a list is expected
    return Array.from({ length: rng.int(1, 4) }, () => attackValue(inner.ofType, rng, budget));
  }
  if (roll < 0.04) return nested(1000, rng.next() < 0.5 ? 'list' : 'object');
  if (isEnumType(inner)) return rng.pick([...inner.getValues().map((v) => v.name), 'NOPE', '', 'bounty_desc', 0, null]);
  if (isInputObjectType(inner)) {
    const value: Record<string, unknown> = {};
    for (const f of Object.values(inner.getFields())) {
      const r = rng.next();
      if (r < 0.05) continue;
      value[f.name] = r < 0.1 ? null : attackValue(f.type, rng, budget);
    }
    if (rng.next() < 0.15) value.deep = nested(1000, 'object');
    // an own __proto__ key, as JSON.parse makes it
    if (rng.next() < 0.1) Object.defineProperty(value, '__proto__', { value: { admin: true }, enumerable: true });
    return value;
  }
  switch (inner.name) {
    case 'Int':
    case 'Float':
      return rng.pick(INTS);
    case 'Boolean':
      return rng.pick([true, false, 'true', 0]);
    case 'DateTime':
      return rng.pick(DATES);
    default:
      if (budget.huge > 0 && roll < 0.12) {
        budget.huge--;
        return rng.pick(['x', '\u0000', '😀', "'", '0']).repeat(HUGE / 2);
      }
      if (roll < 0.2) return randomText(rng);
      if (roll < 0.25) return rng.pick([1, -1, true, [], {}]);
      return rng.pick(STRINGS);
  }
}

function randomText(rng: Rng): string {
  return String.fromCodePoint(
    ...Array.from({ length: rng.int(1, 200) }, () => (rng.next() < 0.3 ? rng.int(0, 0x1f) : rng.int(0x20, 0x2fff))),
  );
}

function nested(depth: number, kind: 'list' | 'object'): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = kind === 'list' ? [v] : { x: v };
  return v;
}

/** `value` as a GraphQL literal for an argument of `type` (enum names bare, everything else as JSON-like values). */
function literal(value: unknown, type: GraphQLInputType, depth = 0): string {
  const named = getNamedType(type);
  if (value === null || value === undefined) return 'null';
  // the parser's token limit refuses deeper literals anyway ('refuses over-limit …' sends one just under it)
  if (depth > 500) return '"x"';
  if (Array.isArray(value)) return `[${value.map((v) => literal(v, type, depth + 1)).join(', ')}]`;
  if (typeof value === 'object') {
    const fields = isInputObjectType(named) ? named.getFields() : {};
    return `{${Object.entries(value)
      .filter(([k]) => /^[_A-Za-z]\w*$/.test(k))
      .map(([k, v]) => `${k}: ${literal(v, fields[k]?.type ?? type, depth + 1)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string' && isEnumType(named) && /^[_A-Za-z]\w*$/.test(value)) return value;
  return JSON.stringify(value);
}

function base64url(rng: Rng, bytes: number): string {
  return Buffer.from(Array.from({ length: bytes }, () => rng.int(0, 255))).toString('base64url');
}

function jwt(header: object, payload: object): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part(header)}.${part(payload)}.`;
}

function safeJson(text: string) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function pool(jobs: (() => Promise<void>)[], concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
}

type WsMessage = { result?: { data?: Record<string, unknown> | null; errors?: GqlError[] }; closed?: string };

/** Runs one operation over a graphql-ws client: every message until it completes or fails (a subscription: its first). */
function wsOperation(ws: ReturnType<typeof createClient>, doc: Doc): Promise<WsMessage[]> {
  return new Promise((resolve) => {
    const messages: WsMessage[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      dispose();
      resolve(messages);
    };
    const timer = setTimeout(() => {
      messages.push({ closed: 'no answer in 30 s' });
      finish();
    }, 30_000);
    const dispose = ws.subscribe(
      { query: doc.query, variables: doc.variables },
      {
        next: (r) => {
          messages.push({ result: r as WsMessage['result'] });
          if (doc.operation === 'subscription') finish();
        },
        error: (e) => {
          if (Array.isArray(e)) messages.push({ result: { errors: e as GqlError[] } });
          else {
            const ev = e as { code?: number; reason?: string; message?: string };
            messages.push({ closed: `${ev.code ?? ''} ${ev.reason ?? ev.message ?? String(e)}` });
          }
          finish();
        },
        complete: () => {
          messages.push({ closed: 'COMPLETE' });
          finish();
        },
      },
    );
  });
}

/** Sends raw frames on a graphql-transport-ws socket; resolves with how it closed and what it answered. */
function rawSocket(url: string, frames: string[]): Promise<{ code: number; reason: string; received: string[]; errors: GqlError[] }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    const received: string[] = [];
    const errors: GqlError[] = [];
    // a socket the server keeps open is closed by us once it has been quiet for a while (nothing more is coming)
    let timer = setTimeout(() => socket.close(1000), 1500);
    socket.on('open', () => {
      for (const f of frames) socket.send(f);
    });
    socket.on('message', (data) => {
      clearTimeout(timer);
      timer = setTimeout(() => socket.close(1000), 1500);
      const text = String(data);
      received.push(text);
      const m = safeJson(text);
      if (m?.type === 'error' && Array.isArray(m.payload)) errors.push(...m.payload);
      if (m?.type === 'next' && m.payload?.errors) errors.push(...m.payload.errors);
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: String(reason), received, errors });
    });
    socket.on('error', reject);
  });
}
