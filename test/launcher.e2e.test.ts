import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it, beforeAll } from 'vitest';
import { freePort } from '#devchain';
import { alive } from '../scripts/lib/local-stack.js';

const ROOT = join(import.meta.dirname, '..');
const LAUNCHER = join(ROOT, 'dist', 'scripts', 'start.js');
/** what must never appear while the stack stops: Postgres killed under an app, a crash, an npm failure */
const ERROR_LINE = /error|57P01|exception|unhandled|ERR!/i;

/**
 * `npm start` itself, run through npm as the README says (npm execs the compiled launcher after the build, which
 * is up to date here): embedded Postgres, anvil, deployment, migrations, three apps. Own ports and state
 * directory, so a developer's running stack is not touched. Every way of stopping it must leave no process, no
 * listening port, no pid file and no error line behind.
 */
describe('the npm start launcher', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'openread-launcher-'));
  let env: NodeJS.ProcessEnv;
  let ports: Record<string, number>;
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    const [api, anvil, pg, bus, indexer, settler] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    ports = { api, anvil, pg, bus, indexer, settler };
    env = {
      ...process.env,
      OPENREAD_STATE_DIR: stateDir,
      API_PORT: String(api),
      ANVIL_PORT: String(anvil),
      EMBEDDED_PG_PORT: String(pg),
      SETTLER_BUS_PORT: String(bus),
      INDEXER_HEALTH_PORT: String(indexer),
      SETTLER_HEALTH_PORT: String(settler),
      RO_AGENT_PORT: String(await freePort()), // the dev exchange RO's agent
    };
    for (const k of ['DATABASE_URL', 'RPC_URL', 'ADMIN_ADDRESSES', 'NATS_URL']) delete env[k];
    for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k]; // a plain shell, not the npm running vitest
  });

  afterAll(() => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  interface Run {
    npm: ChildProcess;
    output: () => string;
    running: Promise<void>;
    exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  }

  /** `npm start` in its own process group (a terminal's foreground group: Ctrl-C signals all of it) */
  function npmStart(extraEnv: NodeJS.ProcessEnv = {}): Run {
    let out = '';
    const npm = spawn('npm', ['start'], { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    started.push(npm);
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      npm.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const running = new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (out.includes('OpenRead is running')) {
          clearInterval(timer);
          resolve();
        } else if (npm.exitCode !== null || npm.signalCode !== null) {
          clearInterval(timer);
          reject(new Error(`npm start exited ${npm.exitCode ?? npm.signalCode}:\n${out.slice(-2000)}`));
        }
      }, 100);
    });
    return { npm, output: () => out, running, exit };
  }

  const children = (pid: number): number[] => {
    try {
      return execFileSync('pgrep', ['-P', String(pid)])
        .toString()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return []; // pgrep exits 1 when nothing matches
    }
  };
  const descendants = (pid: number): number[] => children(pid).flatMap((c) => [c, ...descendants(c)]);
  const pidsMatching = (pattern: string) => {
    try {
      return execFileSync('pgrep', ['-f', '--', pattern]).toString().trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });

  /** the launcher (npm's only child: npm execs it), the apps, Postgres and anvil, seen while the stack runs */
  function stackPids(run: Run): { launcher: number; all: number[] } {
    const [launcher] = children(run.npm.pid!);
    expect(launcher).toBeGreaterThan(0);
    const all = descendants(run.npm.pid!);
    // launcher, postgres (with its workers), anvil, settler, indexer, api
    expect(all.length).toBeGreaterThanOrEqual(6);
    return { launcher, all };
  }

  async function expectNothingLeft(pids: number[]) {
    // the launcher waited for every child before it exited; allow the kernel a moment to reap
    for (let i = 0; i < 20 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    expect(pids.filter(alive)).toEqual([]);
    expect(pidsMatching(stateDir)).toEqual([]);
    expect(pidsMatching(`--port ${ports.anvil}`)).toEqual([]);
    for (const [name, port] of Object.entries(ports)) expect(await listening(port), `${name} port ${port}`).toBe(false);
    expect(existsSync(join(stateDir, 'anvil.pid'))).toBe(false);
  }

  async function stopWith(send: (run: Run) => void) {
    const run = npmStart();
    await run.running;
    const { all } = stackPids(run);
    const before = run.output().length;
    send(run);
    const { code, signal } = await run.exit;
    const stopOutput = run.output().slice(before);
    expect(stopOutput).toContain('OpenRead stopped.');
    expect(stopOutput.split('\n').filter((l) => ERROR_LINE.test(l))).toEqual([]);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    await expectNothingLeft(all);
    return run;
  }

  /**
   * Every connection of the apps to the embedded database is the login role openread_apps: granted openread_app,
   * not a superuser, owning no table (so it can neither alter a table nor switch off the access log's triggers).
   */
  async function expectAppsUnprivileged() {
    const owner = new pg.Client({ connectionString: `postgres://postgres:openread@127.0.0.1:${ports.pg}/openread` });
    await owner.connect();
    try {
      const users = async () =>
        (
          await owner.query(
            `SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'openread' AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
          )
        ).rows.map((r) => r.usename as string);
      // the indexer and the worker hold connections from their start; the API has answered /health through its own
      for (let i = 0; i < 100 && !(await users()).length; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await users()).toEqual(['openread_apps']);
      const { rows } = await owner.query(
        `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, pg_has_role('openread_apps', 'openread_app', 'member') AS member,
           (SELECT count(*)::int FROM pg_tables WHERE tableowner = 'openread_apps') AS owned,
           has_table_privilege('openread_apps', 'study_access_log', 'UPDATE') AS may_update
         FROM pg_roles r WHERE r.rolname = 'openread_apps'`,
      );
      expect(rows).toEqual([{ rolsuper: false, rolcreaterole: false, rolcreatedb: false, member: true, owned: 0, may_update: false }]);
    } finally {
      await owner.end();
    }
  }

  it('starts the whole stack with a dev admin and survives a SIGKILL of the launcher on the next start', async () => {
    expect(existsSync(LAUNCHER)).toBe(true);
    const first = npmStart();
    await first.running;
    expect(first.output()).toContain(`http://127.0.0.1:${ports.api}/graphql`);
    expect(first.output()).toMatch(/#12 0x[0-9a-fA-F]{40} .*\n\s+platform admin/);
    expect((await fetch(`http://127.0.0.1:${ports.api}/health`)).ok).toBe(true);
    await expectAppsUnprivileged();

    // a crash of the launcher: Postgres and anvil are orphaned, the apps follow their parent out
    const { launcher } = stackPids(first);
    process.kill(launcher, 'SIGKILL');
    await first.exit;

    const second = await stopWith((run) => {
      expect(run.output()).toContain('left over from an earlier start');
      process.kill(run.npm.pid!, 'SIGINT');
    });
    void second;
  }, 300_000);

  it('SIGTERM to the npm process (a process manager) stops everything in order', async () => {
    await stopWith((run) => process.kill(run.npm.pid!, 'SIGTERM'));
  }, 180_000);

  it("Ctrl-C (SIGINT to npm start's whole process group) stops everything in order", async () => {
    await stopWith((run) => process.kill(-run.npm.pid!, 'SIGINT'));
  }, 180_000);

  const appPid = (launcher: number, app: string) =>
    children(launcher).find((pid) => {
      try {
        return execFileSync('ps', ['-o', 'args=', '-p', String(pid)])
          .toString()
          .includes(join('apps', app, 'src', 'main.js'));
      } catch {
        return false; // exited between pgrep and ps
      }
    });
  const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, ms = 60_000) => {
    for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await check()) return;
    throw new Error(`timed out waiting for ${what}`);
  };
  const apiServes = async () => {
    try {
      return (await fetch(`http://127.0.0.1:${ports.api}/health`)).ok;
    } catch {
      return false;
    }
  };

  it('an app that is killed is restarted and serves again; one that keeps dying stops the stack with a non-zero exit', async () => {
    const run = npmStart({ APP_RESTART_LIMIT: '3', APP_RESTART_WINDOW_SECONDS: '120' });
    await run.running;
    const { launcher, all } = stackPids(run);
    const first = appPid(launcher, 'api')!;
    expect(first).toBeGreaterThan(0);
    const before = run.output().length;
    process.kill(first, 'SIGKILL');
    // the launcher says which app died and why, and starts it again
    await waitUntil('the API restarted', () => {
      const pid = appPid(launcher, 'api');
      return pid !== undefined && pid !== first;
    });
    await waitUntil('the restarted API serving', apiServes);
    const restartOutput = run.output().slice(before);
    expect(restartOutput).toMatch(/api exited \(killed by SIGKILL\) after [\d.]+ s/);
    expect(restartOutput).toMatch(/restarting api in [\d.]+ s \(exit 1 of 3 allowed within 120 s\)/);
    expect(restartOutput).not.toContain('stopping');
    expect(alive(launcher)).toBe(true);

    // killed again and again: after the third exit within the window the stack stops, in order, and exits 1
    const appPids = [first];
    for (let kill = 2; kill <= 3; kill++) {
      let pid: number | undefined;
      await waitUntil(`API run ${kill}`, () => {
        pid = appPid(launcher, 'api');
        return pid !== undefined && !appPids.includes(pid);
      });
      appPids.push(pid!);
      process.kill(pid!, 'SIGKILL');
    }
    const { code } = await run.exit;
    const stopOutput = run.output().slice(before);
    expect(code).toBe(1);
    expect(stopOutput).toContain('api exited 3 times within 120 s; stopping the stack');
    expect(stopOutput).toContain('OpenRead stopped.');
    expect(stopOutput).not.toContain('57P01');
    await expectNothingLeft([...all, ...appPids]);
  }, 240_000);

  it('SIGTERM during start-up (anvil up, the deployment under way) leaves nothing running', async () => {
    const run = npmStart();
    run.running.catch(() => {}); // stopped before it runs: that is the point
    await waitUntil('anvil started', () => existsSync(join(stateDir, 'anvil.pid')), 120_000);
    const started = descendants(run.npm.pid!);
    process.kill(run.npm.pid!, 'SIGTERM');
    const { code } = await run.exit;
    expect(run.output()).not.toContain('OpenRead is running');
    expect(run.output()).toContain('OpenRead stopped.');
    expect(code).toBe(0);
    await expectNothingLeft(started);
  }, 180_000);

  it('a wrong variable is refused within seconds, named with its value, before anything starts', async () => {
    const t0 = Date.now();
    const launcher = spawn(process.execPath, [LAUNCHER], {
      cwd: ROOT,
      env: { ...env, API_PORT: 'abc' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(launcher);
    let out = '';
    launcher.stdout!.on('data', (d) => (out += d));
    launcher.stderr!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => launcher.once('exit', resolve));
    // "within seconds" is a matter of order, not of a clock (timings belong in benches): the check comes before
    // every slow step, so none of their lines (build, Postgres, anvil, migrations) was printed
    expect(out).not.toMatch(/^(Postgres|chain|database) /m);
    console.log(`refused after ${Date.now() - t0} ms`);
    expect(code).toBe(2);
    expect(out).toContain('API_PORT="abc": must be a whole number from 0 to 65535');
    expect(out).not.toMatch(/siwe|api\.port|NaN/i);
    expect(out).toContain('Nothing was started');
    expect(existsSync(join(stateDir, 'anvil.pid'))).toBe(false);
    for (const [name, port] of Object.entries(ports)) expect(await listening(port), `${name} port ${port}`).toBe(false);
  }, 30_000);
});
