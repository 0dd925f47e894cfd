import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv, introspectionOn } from './config.js';

const ANVIL_0_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const own = () => Wallet.createRandom().privateKey;

/** A production configuration with no dev default left: it starts. */
const productionEnv = (): Record<string, string> => ({
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://app@db.internal:5432/openread',
  RPC_URL: 'https://rpc.example.org',
  CHAIN_ID: '8453',
  TOKEN_ADDRESS: '0x' + '1'.repeat(40),
  PARAMETERS_ADDRESS: '0x' + '2'.repeat(40),
  REGISTRY_ADDRESS: '0x' + '3'.repeat(40),
  MARKET_ADDRESS: '0x' + '4'.repeat(40),
  DEPLOY_BLOCK: '1',
  SIWE_DOMAIN: 'openread.example.org',
  SIWE_URI: 'https://openread.example.org',
  INDEXER_CONFIRMATIONS: '12',
  RATE_LIMIT_CLIENT_KEY: 'k'.repeat(40),
  API_CURSOR_SECRET: 'c'.repeat(40),
  SETTLER_PRIVATE_KEY: own(),
  RELAYER_PRIVATE_KEY: own(),
  GOVERNANCE_RELAYER_PRIVATE_KEY: own(),
  TREASURY_RELAYER_PRIVATE_KEY: own(),
  STUDY_ID_ISSUER_PRIVATE_KEY: own(),
});

const issues = (env: Record<string, string | undefined>): string[] => {
  try {
    configFromEnv(env);
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
};

describe('production mode (NODE_ENV=production)', () => {
  it('accepts a configuration without dev defaults, with introspection off unless opted in', () => {
    const c = configFromEnv(productionEnv());
    expect(introspectionOn(c)).toBe(false);
    expect(introspectionOn(configFromEnv({ ...productionEnv(), API_INTROSPECTION: 'true' }))).toBe(true);
    expect(introspectionOn(configFromEnv({ ...productionEnv(), NODE_ENV: 'development' }))).toBe(true);
    expect(issues({ ...productionEnv(), API_INTROSPECTION: 'yes' })).toEqual(['API_INTROSPECTION="yes": must be true or false']);
  });

  it('names every dev default still in effect, its variable, its value and what is expected', () => {
    const env = { ...productionEnv(), SIWE_DOMAIN: undefined, SIWE_URI: undefined, API_PORT: '4100' };
    const found = issues({
      ...env,
      INDEXER_CONFIRMATIONS: undefined,
      CHAIN_ID: '31337',
      RATE_LIMIT_CLIENT_KEY: undefined,
      API_CURSOR_SECRET: undefined,
      SETTLER_PRIVATE_KEY: ANVIL_0_KEY,
      ADMIN_ADDRESSES: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    });
    expect(found).toEqual([
      'SIWE_DOMAIN is not set, so it is "localhost:4100", which is a local address: in production (NODE_ENV=production) set the public host[:port] users sign in at',
      'SIWE_URI is not set, so it is "http://localhost:4100", which is a local address: in production (NODE_ENV=production) set the public https:// origin users sign in at',
      'INDEXER_CONFIRMATIONS is not set: it must be at least 12 in production: study keys are released for indexed claims, and a reorg of fewer blocks would undo the claim',
      'CHAIN_ID="31337": is a local dev chain: in production give the real chain ID (or set ALLOW_LOCAL_CHAIN_ID=true for a private chain that uses it)',
      'SETTLER_PRIVATE_KEY=(the value given, not shown: a secret): is a well-known dev key (anvil/Hardhat account 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266, published): use a key of your own',
      'ADMIN_ADDRESSES="0x70997970C51812dc3A010C7d01b50e0d17dc79C8": names 0x70997970c51812dc3a010c7d01b50e0d17dc79c8, a well-known dev account whose key is published: name your platform admins\' own accounts',
      'RATE_LIMIT_CLIENT_KEY is not set: it is required in production (≥ 32 random characters, the same on every API instance): unset, each process makes up its own key, so instances do not share client buckets',
      "API_CURSOR_SECRET is not set: it is required in production (≥ 32 random characters, the same on every API instance): unset, each process makes up its own key, so one instance's worklist cursors fail on another",
    ]);
    expect(found.join('\n')).not.toContain(ANVIL_0_KEY.slice(2));
    expect(issues({ ...productionEnv(), SIWE_DOMAIN: '127.0.0.1:4000', SIWE_URI: 'http://[::1]:4000' })).toHaveLength(2);
    expect(issues({ ...productionEnv(), SIWE_URI: 'http://openread.example.org' })).toEqual([
      'SIWE_URI="http://openread.example.org": must be an https:// origin in production: sign-in is only as safe as the page that asks for it',
    ]);
    expect(issues({ ...productionEnv(), INDEXER_CONFIRMATIONS: '3' })).toEqual([
      'INDEXER_CONFIRMATIONS="3": must be at least 12 in production: study keys are released for indexed claims, and a reorg of fewer blocks would undo the claim',
    ]);
  });

  it('never echoes a shared secret', () => {
    expect(issues({ ...productionEnv(), API_CURSOR_SECRET: 'short-cursor-secret' })).toEqual([
      'API_CURSOR_SECRET=(the value given, not shown: a secret): must be at least 32 characters',
    ]);
  });

  it('refuses every service key that is a well-known dev key', () => {
    for (const name of [
      'RELAYER_PRIVATE_KEY',
      'GOVERNANCE_RELAYER_PRIVATE_KEY',
      'TREASURY_RELAYER_PRIVATE_KEY',
      'STUDY_ID_ISSUER_PRIVATE_KEY',
    ])
      expect(issues({ ...productionEnv(), [name]: ANVIL_0_KEY })).toEqual([
        `${name}=(the value given, not shown: a secret): is a well-known dev key (anvil/Hardhat account 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266, published): use a key of your own`,
      ]);
  });

  it('allows a local chain ID only when told to, and leaves development unchanged', () => {
    expect(issues({ ...productionEnv(), CHAIN_ID: '31337', ALLOW_LOCAL_CHAIN_ID: 'true' })).toEqual([]);
    const dev = { ...productionEnv(), NODE_ENV: undefined, SIWE_DOMAIN: undefined, INDEXER_CONFIRMATIONS: undefined, CHAIN_ID: '31337' };
    expect(issues({ ...dev, SETTLER_PRIVATE_KEY: ANVIL_0_KEY, RATE_LIMIT_CLIENT_KEY: undefined })).toEqual([]);
  });
});
