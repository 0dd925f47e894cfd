import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '#config';
import { CONFIG_DOC, renderConfigDoc, settingProblems, settings } from '../scripts/lib/config-docs.js';

describe('docs/configuration.md is generated from the config schema', () => {
  it('documents every setting: a description and the environment variable it is read from', () => {
    expect(settingProblems()).toEqual([]);
    expect(settings().length).toBeGreaterThan(50);
  });

  it('is what `npm run docs:config` renders today (run it after changing the schema)', () => {
    expect(readFileSync(CONFIG_DOC, 'utf8')).toBe(renderConfigDoc());
  });

  it('names the variables configFromEnv really reads, and each fills the setting the page says', () => {
    // every env variable configFromEnv touches, recorded through a proxy over a valid environment
    const base: Record<string, string> = {
      DATABASE_URL: 'postgres://x@127.0.0.1/db',
      RPC_URL: 'http://127.0.0.1:8545',
      CHAIN_ID: '31337',
      DEPLOY_BLOCK: '1',
      TOKEN_ADDRESS: `0x${'1'.repeat(40)}`,
      PARAMETERS_ADDRESS: `0x${'2'.repeat(40)}`,
      REGISTRY_ADDRESS: `0x${'3'.repeat(40)}`,
      MARKET_ADDRESS: `0x${'4'.repeat(40)}`,
    };
    const read = new Set<string>();
    configFromEnv(new Proxy(base, { get: (t, k: string) => (read.add(k), t[k]) }));
    const documented = settings().flatMap((s) => s.env);
    expect(new Set(documented)).toEqual(read);
    // a documented integer setting changes with its variable (spot check through the whole mapping)
    for (const s of settings().filter((x) => /^\d+$/.test(x.default))) {
      const value = String(Number(s.default) + 1);
      const parsed = configFromEnv({ ...base, [s.env[0]]: value }) as unknown as Record<string, Record<string, unknown>>;
      const [a, b] = s.path.split('.');
      expect(String(b ? parsed[a][b] : parsed[a]), `${s.env[0]} → ${s.path}`).toBe(value);
    }
  });
});
