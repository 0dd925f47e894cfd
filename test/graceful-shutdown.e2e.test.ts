import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#db/testing';
import { freePort } from '#devchain';

const ROOT = join(import.meta.dirname, '..');
const API_MAIN = join(ROOT, 'dist', 'apps', 'api', 'src', 'main.js');

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
    expect(existsSync(API_MAIN), 'the compiled API (npm run build)').toBe(true);
    db = await createTestDatabase();
  });

  afterAll(async () => {
    for (const api of started) if (api.exitCode === null && api.signalCode === null) api.kill('SIGKILL');
    await db?.drop();
  });

  interface Api {
    port: number;
    output(): string;
    exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    process: ChildProcess;
  }

  async function startApi(): Promise<Api> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      // no chain node is needed for these requests; nothing listens here
      RPC_URL: `http://127.0.0.1:${await freePort()}`,
      CHAIN_ID: '31337',
      DEPLOY_BLOCK: '0',
      TOKEN_ADDRESS: `0x${'1'.repeat(40)}`,
      PARAMETERS_ADDRESS: `0x${'2'.repeat(40)}`,
      REGISTRY_ADDRESS: `0x${'3'.repeat(40)}`,
      MARKET_ADDRESS: `0x${'4'.repeat(40)}`,
      API_PORT: String(port),
    };
    const api = spawn(process.execPath, [API_MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(api);
    let output = '';
    api.stdout!.on('data', (d) => (output += d));
    api.stderr!.on('data', (d) => (output += d));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      api.once('exit', (code, signal) => resolve({ code, signal })),
    );
    for (const until = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 100))) {
      if (api.exitCode !== null) throw new Error(`the API exited ${api.exitCode}:\n${output}`);
      if (
        await fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (Date.now() > until) throw new Error(`the API did not start:\n${output}`);
    }
    return { port, output: () => output, exit, process: api };
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
