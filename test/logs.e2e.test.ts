import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#db/testing';
import { type CompiledApi, startCompiledApi } from './support/compiled-api.js';
import { productionEnv } from './support/production.js';

/**
 * The compiled API with NODE_ENV=production writes one JSON object per stdout line; the lines of a request carry its
 * id (the client's X-Request-Id when it is a safe token, echoed in the response), and no line holds the bearer token.
 */
describe('production logs of the API', () => {
  let db: { url: string; drop(): Promise<void> };
  let api: CompiledApi;
  const token = 'secret-session-token-5f1c9a7e';

  beforeAll(async () => {
    db = await createTestDatabase();
    // production mode refuses dev defaults: a production configuration (the local chain ID explicitly allowed)
    api = await startCompiledApi(db.url, { ...productionEnv(), ALLOW_LOCAL_CHAIN_ID: 'true' });
  }, 90_000);

  afterAll(async () => {
    if (api && api.process.exitCode === null && api.process.signalCode === null) {
      api.process.kill('SIGTERM');
      await api.exit;
    }
    await db?.drop();
  });

  const lines = () =>
    api
      .stdout()
      .split('\n')
      .filter((l) => l.trim());

  async function post(headers: Record<string, string>) {
    return fetch(`http://127.0.0.1:${api.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, cookie: `session=${token}`, ...headers },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
  }

  it('writes JSON lines that carry the request id and never the token', async () => {
    const res = await post({ 'x-request-id': 'req-e2e.42' });
    expect(res.headers.get('x-request-id')).toBe('req-e2e.42');
    await res.text();
    // the access line is written when the response ends
    for (let i = 0; i < 50 && !api.stdout().includes('req-e2e.42'); i++) await new Promise((r) => setTimeout(r, 100));

    const parsed = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.length).toBeGreaterThan(1);
    for (const line of parsed) expect(line).toMatchObject({ app: 'api', level: expect.any(Number), time: expect.any(String) });
    const ofRequest = parsed.filter((l) => l.reqId === 'req-e2e.42');
    expect(ofRequest.length).toBeGreaterThan(0);
    expect(ofRequest.some((l) => (l.req as { path?: string })?.path === '/graphql')).toBe(true);
    expect(api.output()).not.toContain(token);
  });

  it('replaces an unsafe X-Request-Id with its own', async () => {
    const res = await post({ 'x-request-id': 'bad id {forged}' });
    await res.text();
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    for (let i = 0; i < 50 && !api.stdout().includes(id!); i++) await new Promise((r) => setTimeout(r, 100));
    expect(lines().some((l) => (JSON.parse(l) as { reqId?: string }).reqId === id)).toBe(true);
    expect(api.output()).not.toContain('forged');
    expect(api.output()).not.toContain(token);
  });
});
