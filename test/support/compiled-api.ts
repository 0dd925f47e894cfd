import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '#devchain';

const ROOT = join(import.meta.dirname, '..', '..');
export const API_MAIN = join(ROOT, 'dist', 'apps', 'api', 'src', 'main.js');

export interface CompiledApi {
  port: number;
  /** stdout and stderr, interleaved */
  output(): string;
  stdout(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  process: ChildProcess;
}

/**
 * The compiled API (`npm run build`) as its own process, on a migrated database, with no chain node behind it
 * (nothing listens at its RPC URL): enough for requests that need only Postgres. Resolves once `/health` answers.
 */
export async function startCompiledApi(databaseUrl: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<CompiledApi> {
  if (!existsSync(API_MAIN)) throw new Error(`${API_MAIN} is missing: run npm run build`);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    DATABASE_URL: databaseUrl,
    RPC_URL: `http://127.0.0.1:${await freePort()}`,
    CHAIN_ID: '31337',
    DEPLOY_BLOCK: '0',
    TOKEN_ADDRESS: `0x${'1'.repeat(40)}`,
    PARAMETERS_ADDRESS: `0x${'2'.repeat(40)}`,
    REGISTRY_ADDRESS: `0x${'3'.repeat(40)}`,
    MARKET_ADDRESS: `0x${'4'.repeat(40)}`,
    API_PORT: String(port),
    ...extraEnv,
  };
  const api = spawn(process.execPath, [API_MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let stdout = '';
  api.stdout!.on('data', (d) => ((output += d), (stdout += d)));
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
    if (Date.now() > until) {
      api.kill('SIGKILL');
      throw new Error(`the API did not start:\n${output}`);
    }
  }
  return { port, output: () => output, stdout: () => stdout, exit, process: api };
}
