import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { type JsonRpcProvider, toBeHex } from 'ethers';

/** The mnemonic anvil uses by default; its first accounts are the well-known dev accounts. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

export interface AnvilOptions {
  port?: number;
  host?: string;
  chainId?: number;
  /** seconds per block; omitted = automine (one block per transaction) */
  blockTime?: number;
  /** do not forward anvil's stdout (default true) */
  quiet?: boolean;
  /** how long to wait for the RPC to answer, ms (default 15000) */
  startTimeoutMs?: number;
  /** extra command-line arguments for anvil */
  args?: string[];
  /** run anvil in its own process group, so a terminal's Ctrl-C (sent to the whole group) does not reach it */
  detached?: boolean;
}

export interface AnvilHandle {
  rpcUrl: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Path of the anvil binary shipped by @foundry-rs/anvil. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');
}

/** A TCP port that was free a moment ago (listen on port 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a local anvil chain bound to 127.0.0.1 (by default on a free port, chain id 31337, the default dev
 * mnemonic) and resolves once `eth_chainId` answers.
 */
export async function startAnvil(opts: AnvilOptions = {}): Promise<AnvilHandle> {
  const host = opts.host ?? '127.0.0.1';
  const chainId = opts.chainId ?? 31337;
  const quiet = opts.quiet ?? true;
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  // A free port can be taken between freePort() and anvil's bind: retry a few times on an early exit.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort(host));
    try {
      return await launch(host, port, chainId, quiet, timeoutMs, opts);
    } catch (e) {
      if (opts.port !== undefined || attempt >= 3 || !(e instanceof AnvilExitedError)) throw e;
    }
  }
}

class AnvilExitedError extends Error {}

async function launch(
  host: string,
  port: number,
  chainId: number,
  quiet: boolean,
  timeoutMs: number,
  opts: AnvilOptions,
): Promise<AnvilHandle> {
  const args = ['--host', host, '--port', String(port), '--chain-id', String(chainId), '--mnemonic', ANVIL_MNEMONIC];
  if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime));
  if (opts.args) args.push(...opts.args);

  const child: ChildProcess = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
  });
  child.stdout?.on('data', (d: Buffer) => {
    if (!quiet) process.stdout.write(d);
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  const rpcUrl = `http://${host}:${port}`;
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!exited) child.kill('SIGKILL');
    }, 3_000);
    await exitPromise;
    clearTimeout(timer);
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) throw new Error(`could not start anvil (${anvilBinary()}): ${spawnError.message}`);
    if (exited) {
      throw new AnvilExitedError(
        `anvil exited before answering (code ${exited.code}, signal ${exited.signal}) on ${rpcUrl}; stderr:\n${stderr}`,
      );
    }
    try {
      const id = await rpc(rpcUrl, 'eth_chainId');
      if (Number(id) === chainId) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`anvil did not answer eth_chainId on ${rpcUrl} within ${timeoutMs} ms; stderr:\n${stderr}`);
    }
    await sleep(25);
  }
  return { rpcUrl, port, pid: child.pid!, stop };
}

/** Advances chain time by `seconds` and mines a block with the new timestamp. */
export async function increaseTime(provider: JsonRpcProvider, seconds: number | bigint): Promise<void> {
  await provider.send('evm_increaseTime', [toBeHex(BigInt(seconds))]);
  await provider.send('evm_mine', []);
}

/** Mines one block. */
export async function mine(provider: JsonRpcProvider): Promise<void> {
  await provider.send('evm_mine', []);
}

/** Takes an evm snapshot; pass the id to {@link revert}. A snapshot can be reverted to only once. */
export async function snapshot(provider: JsonRpcProvider): Promise<string> {
  return (await provider.send('evm_snapshot', [])) as string;
}

/** Reverts to a snapshot taken by {@link snapshot}; throws when the id is unknown. */
export async function revert(provider: JsonRpcProvider, id: string): Promise<void> {
  const ok = (await provider.send('evm_revert', [id])) as boolean;
  if (!ok) throw new Error(`evm_revert(${id}) failed`);
}

/** Timestamp of the latest block, seconds. */
export async function latestTimestamp(provider: JsonRpcProvider): Promise<number> {
  const block = await provider.getBlock('latest');
  if (!block) throw new Error('no latest block');
  return block.timestamp;
}
