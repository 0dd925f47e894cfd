import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnvil, type AnvilHandle } from '#devchain';
import { chainTime, localRpcUrl, parseDuration } from '../scripts/chain.js';

const ROOT = join(import.meta.dirname, '..');
const run = promisify(execFile);

describe('npm run chain: duration parsing', () => {
  it('reads seconds and d/h/m/s units, alone or combined', () => {
    expect(parseDuration('3600')).toBe(3600);
    expect(parseDuration('24h')).toBe(86_400);
    expect(parseDuration('90m')).toBe(5400);
    expect(parseDuration('45s')).toBe(45);
    expect(parseDuration('1d12h')).toBe(129_600);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration(' 2D ')).toBe(172_800);
  });

  it('refuses what is not a positive duration', () => {
    for (const bad of ['', '0', '0h', '-5', '1.5h', 'h', '24 h', '24hours', '1w', '1e3', 'abc']) {
      expect(() => parseDuration(bad), bad).toThrow(/is not a duration/);
    }
  });

  it('finds the chain through RPC_URL, else the deployment.json of npm start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openread-chain-url-'));
    try {
      expect(localRpcUrl({ RPC_URL: 'http://127.0.0.1:1' }, dir)).toBe('http://127.0.0.1:1');
      expect(() => localRpcUrl({}, dir)).toThrow(/npm start/);
      writeFileSync(join(dir, 'deployment.json'), JSON.stringify({ rpcUrl: 'http://127.0.0.1:2' }));
      expect(localRpcUrl({}, dir)).toBe('http://127.0.0.1:2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The compiled command (as `npm run chain` runs it) against a real anvil found through deployment.json. */
describe('npm run chain -- advance', () => {
  let anvil: AnvilHandle;
  const stateDir = mkdtempSync(join(tmpdir(), 'openread-chain-'));
  const env = () => {
    const e: NodeJS.ProcessEnv = { ...process.env, OPENREAD_STATE_DIR: stateDir };
    delete e.RPC_URL;
    for (const k of Object.keys(e)) if (k.startsWith('npm_')) delete e[k];
    return e;
  };

  beforeAll(async () => {
    anvil = await startAnvil();
    writeFileSync(join(stateDir, 'deployment.json'), JSON.stringify({ rpcUrl: anvil.rpcUrl }));
  });
  afterAll(async () => {
    await anvil?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('moves chain time forward by 24h, 90m and 3600 s, mining a block each time, and prints the new time', async () => {
    let last = await chainTime(anvil.rpcUrl);
    for (const [arg, seconds] of [
      ['24h', 86_400],
      ['90m', 5400],
      ['3600', 3600],
    ] as const) {
      const { stdout } = await run('npm', ['run', '-s', 'chain', '--', 'advance', arg], { cwd: ROOT, env: env() });
      const now = await chainTime(anvil.rpcUrl);
      expect(now.block).toBe(last.block + 1);
      // evm_increaseTime adds to the wall-clock time anvil stamps a block with: at least `seconds`, plus what passed
      expect(now.timestamp - last.timestamp).toBeGreaterThanOrEqual(seconds);
      expect(now.timestamp - last.timestamp).toBeLessThan(seconds + 30);
      expect(stdout.trim()).toBe(`advanced ${seconds} s: chain time ${new Date(now.timestamp * 1000).toISOString()} (block ${now.block})`);
      last = now;
    }
  }, 60_000);

  it('fails with a sentence when the duration is wrong or no chain answers', async () => {
    const bad = await run('node', [join(ROOT, 'dist', 'scripts', 'chain.js'), 'advance', '24', 'hours'], { cwd: ROOT, env: env() }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    const wrong = await run('node', [join(ROOT, 'dist', 'scripts', 'chain.js'), 'advance', 'soon'], { cwd: ROOT, env: env() }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(wrong).toMatchObject({ code: 1, stderr: expect.stringContaining('"soon" is not a duration') });
    const down = await run('node', [join(ROOT, 'dist', 'scripts', 'chain.js'), 'advance', '1h'], {
      cwd: ROOT,
      env: { ...env(), RPC_URL: 'http://127.0.0.1:1' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(down).toMatchObject({ code: 1, stderr: expect.stringContaining('is `npm start` running?') });
  }, 60_000);
});
