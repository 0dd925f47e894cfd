import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '#devchain';

const LAUNCHER = join(import.meta.dirname, '..', 'dist', 'scripts', 'start.js');

/**
 * `npm start` itself (the compiled launcher, as `npm start` runs it after `npm run build`): embedded Postgres,
 * anvil, deployment, migrations, three apps. Own ports and state directory, so a developer's running stack is
 * not touched.
 */
describe('the npm start launcher', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'openread-launcher-'));
  let env: NodeJS.ProcessEnv;
  const started: ChildProcess[] = [];

  afterAll(() => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  function launch(): { child: ChildProcess; output: () => string; running: Promise<void> } {
    let out = '';
    const child = spawn(process.execPath, [LAUNCHER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const running = new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (out.includes('OpenRead is running')) {
          clearInterval(timer);
          resolve();
        } else if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`launcher exited ${child.exitCode}:\n${out.slice(-2000)}`));
        }
      }, 100);
    });
    return { child, output: () => out, running };
  }

  const pidsUnder = (dir: string) => {
    try {
      return execFileSync('pgrep', ['-f', '--', dir]).toString().trim().split('\n').filter(Boolean);
    } catch {
      return []; // pgrep exits 1 when nothing matches
    }
  };

  it('starts the whole stack, survives a SIGKILL of itself on the next start, and Ctrl-C leaves nothing running', async () => {
    expect(existsSync(LAUNCHER)).toBe(true);
    const [api, anvil, pg, bus] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    env = {
      ...process.env,
      DATABASE_URL: '',
      RPC_URL: '',
      OPENREAD_STATE_DIR: stateDir,
      API_PORT: String(api),
      ANVIL_PORT: String(anvil),
      EMBEDDED_PG_PORT: String(pg),
      SETTLER_BUS_PORT: String(bus),
    };
    delete env.DATABASE_URL;
    delete env.RPC_URL;

    const first = launch();
    await first.running;
    expect(first.output()).toContain(`http://127.0.0.1:${api}/graphql`);
    expect((await fetch(`http://127.0.0.1:${api}/health`)).ok).toBe(true);

    // a crash of the launcher: Postgres and anvil are orphaned, the apps follow their parent out
    first.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));

    const second = launch();
    await second.running;
    expect(second.output()).toContain('left over from an earlier start');
    const res = await fetch(`http://127.0.0.1:${api}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { nonce { nonce chainId } }' }),
    });
    expect(((await res.json()) as { data: { nonce: { chainId: number } } }).data.nonce.chainId).toBe(31337);

    second.child.kill('SIGINT');
    await new Promise((r) => second.child.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    expect(pidsUnder(stateDir)).toEqual([]);
    expect(pidsUnder(`--port ${anvil}`)).toEqual([]);
  }, 120_000);
});
