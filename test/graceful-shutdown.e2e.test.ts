import type { ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#db/testing';
import { type CompiledApi, startCompiledApi } from './support/compiled-api.js';

/**
 * SIGTERM to the compiled API (what systemd or a container runtime sends) while a request is in flight: the
 * listening socket closes at once, the request is still answered (its database pool is closed only after the
 * drain), a request that never completes is cut after the drain's bound (10 s: Apollo's drain plugin, which
 * @nestjs/apollo installs), and the process exits 0.
 */
describe('graceful shutdown of the API', () => {
  let db: { url: string; drop(): Promise<void> };
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    for (const api of started) if (api.exitCode === null && api.signalCode === null) api.kill('SIGKILL');
    await db?.drop();
  });

  async function startApi(): Promise<CompiledApi> {
    const api = await startCompiledApi(db.url);
    started.push(api.process);
    return api;
  }

  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });

  /** A request whose body is still arriving: the server has it, and cannot answer before the rest comes. */
  async function partialRequest(port: number, body: string) {
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let response = '';
    socket.on('data', (d) => (response += d));
    socket.on('error', () => {}); // cut by the server: seen as the end below
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
        body.slice(0, 5),
    );
    await new Promise((r) => setTimeout(r, 300));
    return { socket, ended, response: () => response };
  }

  it('answers the request in flight (it needs the database), refuses new connections, and exits 0', async () => {
    const api = await startApi();
    // answering needs the database (the client's rate limit, the nonce stored): the pool outlives the drain
    const body = JSON.stringify({ query: 'mutation { nonce { nonce } }' });
    const request = await partialRequest(api.port, body);

    api.process.kill('SIGTERM');
    // the listening socket closes at once; the process is still there, draining
    for (let i = 0; i < 50 && (await listening(api.port)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await listening(api.port)).toBe(false);
    expect(api.process.exitCode).toBeNull();

    await new Promise((r) => setTimeout(r, 1000)); // a slow client
    request.socket.write(body.slice(5));
    await request.ended;
    expect(request.response()).toMatch(/^HTTP\/1\.1 200/);
    expect(request.response()).toMatch(/\{"data":\{"nonce":\{"nonce":"\w+"\}\}\}/);
    expect(await api.exit).toEqual({ code: 0, signal: null });
    expect(api.output()).not.toMatch(/error|exception/i);
  }, 90_000);

  it('cuts a request that never completes after the 10 s drain, and still exits 0', async () => {
    const api = await startApi();
    const request = await partialRequest(api.port, JSON.stringify({ query: '{ __typename }' }));
    const t0 = Date.now();
    api.process.kill('SIGTERM');
    await request.ended;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(9_500);
    expect(request.response()).toBe('');
    expect(await api.exit).toEqual({ code: 0, signal: null });
    // the drain's bound, not the process' own last resort (30 s, exit 1)
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 90_000);
});
