/**
 * `npm run chain -- <command>`: dev commands for the local chain that `npm start` runs (anvil).
 *   advance <duration>   move chain time forward and mine a block: `24h`, `90m`, `3600` (seconds), `1d12h`, `45s`
 *   time                 print the chain's time and block
 * The chain is found through RPC_URL or, by default, the .openread/deployment.json `npm start` writes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { STATE_DIR } from './lib/state-dir.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds in a duration such as `24h`, `90m`, `3600`, `1d12h` or `1h30m`; throws on anything else or on 0. */
export function parseDuration(text: string): number {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    if (seconds > 0 && Number.isSafeInteger(seconds)) return seconds;
  } else if (/^(\d+[dhms])+$/.test(trimmed)) {
    let seconds = 0;
    for (const [, n, unit] of trimmed.matchAll(/(\d+)([dhms])/g)) seconds += Number(n) * UNIT_SECONDS[unit];
    if (seconds > 0 && Number.isSafeInteger(seconds)) return seconds;
  }
  throw new Error(`"${text}" is not a duration: use seconds (3600) or units d, h, m, s (24h, 90m, 1d12h)`);
}

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
  } catch {
    throw new Error(`no chain answers at ${url}: is \`npm start\` running?`);
  }
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

export interface ChainTime {
  block: number;
  /** seconds since the epoch */
  timestamp: number;
}

export async function chainTime(rpcUrl: string): Promise<ChainTime> {
  const block = await rpc<{ number: string; timestamp: string }>(rpcUrl, 'eth_getBlockByNumber', ['latest', false]);
  return { block: Number(block.number), timestamp: Number(block.timestamp) };
}

/** evm_increaseTime + evm_mine (anvil, Hardhat): the mined block carries the new time. */
export async function advanceChain(rpcUrl: string, seconds: number): Promise<ChainTime> {
  await rpc(rpcUrl, 'evm_increaseTime', [`0x${seconds.toString(16)}`]);
  await rpc(rpcUrl, 'evm_mine', []);
  return chainTime(rpcUrl);
}

/** RPC_URL, else the chain `npm start` deployed to (its deployment.json). */
export function localRpcUrl(env: NodeJS.ProcessEnv = process.env, stateDir = STATE_DIR): string {
  if (env.RPC_URL) return env.RPC_URL;
  const file = join(stateDir, 'deployment.json');
  if (!existsSync(file)) throw new Error(`no ${file}: start the local stack with \`npm start\` first (or set RPC_URL)`);
  const { rpcUrl } = JSON.parse(readFileSync(file, 'utf8')) as { rpcUrl?: string };
  if (!rpcUrl) throw new Error(`${file} names no rpcUrl`);
  return rpcUrl;
}

const describeTime = (t: ChainTime) => `chain time ${new Date(t.timestamp * 1000).toISOString()} (block ${t.block})`;

const USAGE = `usage: npm run chain -- advance <duration>   (24h, 90m, 3600 = seconds, 1d12h)
       npm run chain -- time`;

export async function main(args: string[]): Promise<number> {
  const [command, arg, ...rest] = args;
  try {
    if (command === 'advance' && arg !== undefined && rest.length === 0) {
      const seconds = parseDuration(arg);
      const rpcUrl = localRpcUrl();
      const after = await advanceChain(rpcUrl, seconds);
      console.log(`advanced ${seconds} s: ${describeTime(after)}`);
      return 0;
    }
    if (command === 'time' && arg === undefined) {
      console.log(describeTime(await chainTime(localRpcUrl())));
      return 0;
    }
    console.error(USAGE);
    return 2;
  } catch (e) {
    console.error(`chain: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main(process.argv.slice(2));
