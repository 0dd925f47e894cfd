/**
 * `BENCH=start`: seconds from `npm start` to the printed GraphQL URL, in a copy of this working tree (tracked and
 * untracked files, not ignored ones; node_modules linked: a fresh clone after `npm install`) with its own ports and
 * state directory. "fresh" removes dist and .openread before each start, as a fresh clone has neither (contracts/out is
 * tracked, so a clone has it and compiles no contract unless a source changed); "restart" starts again with both in
 * place. Each start is stopped with SIGTERM to npm, as a process manager would.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '#devchain';
import { percentile, type BenchRow } from './table.js';

const ROOT = join(import.meta.dirname, '..', '..', '..'); // dist/scripts/bench → repository root

function copyWorkingTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'openread-bench-start-'));
  chmodSync(dir, 0o755); // as root, embedded Postgres runs as the 'postgres' user, which must reach .openread inside
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT })
    .toString()
    .split('\0')
    .filter(Boolean)
    .filter((f) => f !== 'node_modules'); // a worktree's node_modules symlink is not matched by .gitignore's node_modules/
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    try {
      cpSync(join(ROOT, f), join(dir, f));
    } catch {
      // deleted in the working tree but still in the index
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function timeStart(cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const npm = spawn('npm', ['start'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout.on('data', (d) => (out += d));
  npm.stderr.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const seconds = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/GraphQL API\s+http/.test(out)) {
        clearInterval(timer);
        resolve((performance.now() - t0) / 1000);
      } else if (npm.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`npm start exited ${npm.exitCode}:\n${out.slice(-2000)}`));
      }
    }, 20);
  });
  npm.kill('SIGTERM');
  const code = await exit;
  if (code !== 0) throw new Error(`npm start did not stop cleanly on SIGTERM (exit ${code}):\n${out.slice(-2000)}`);
  return seconds;
}

export async function startBench({ rounds }: { rounds: number }): Promise<BenchRow[]> {
  const dir = copyWorkingTree();
  try {
    const [api, anvil, pg, bus, indexer] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPENREAD_STATE_DIR: join(dir, '.openread'),
      API_PORT: String(api),
      ANVIL_PORT: String(anvil),
      EMBEDDED_PG_PORT: String(pg),
      SETTLER_BUS_PORT: String(bus),
      INDEXER_HEALTH_PORT: String(indexer),
    };
    for (const k of ['DATABASE_URL', 'RPC_URL']) delete env[k];
    for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
    const fresh: number[] = [];
    const restart: number[] = [];
    for (let i = 0; i < rounds; i++) {
      rmSync(join(dir, 'dist'), { recursive: true, force: true });
      rmSync(join(dir, '.openread'), { recursive: true, force: true }); // a fresh clone has no Postgres cluster yet
      fresh.push(await timeStart(dir, env));
      restart.push(await timeStart(dir, env));
      console.log(`start round ${i + 1}/${rounds}: fresh ${fresh[i].toFixed(1)} s, restart ${restart[i].toFixed(1)} s`);
    }
    const row = (what: string, xs: number[]): BenchRow => ({
      what,
      n: xs.length,
      p50: percentile(xs, 50),
      p99: percentile(xs, 99),
      unit: 's',
    });
    return [
      row('`npm start` → URL printed, fresh clone (no dist or .openread)', fresh),
      row('`npm start` → URL printed, restart (nothing changed)', restart),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
