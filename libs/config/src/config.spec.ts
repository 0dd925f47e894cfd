import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from './config.js';

const env = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x',
  RPC_URL: 'http://127.0.0.1:8545',
  CHAIN_ID: '31337',
  TOKEN_ADDRESS: '0x' + '1'.repeat(40),
  PARAMETERS_ADDRESS: '0x' + '2'.repeat(40),
  REGISTRY_ADDRESS: '0x' + '3'.repeat(40),
  MARKET_ADDRESS: '0x' + 'A'.repeat(40),
  DEPLOY_BLOCK: '1',
};

describe('configuration', () => {
  it('applies documented defaults and normalises addresses to lower case', () => {
    const c = configFromEnv(env);
    expect(c.api.port).toBe(4000);
    expect(c.api.siweDomain).toBe('localhost:4000');
    expect(c.indexer.confirmations).toBe(0);
    expect(c.contracts.market).toBe('0x' + 'a'.repeat(40));
  });

  it('rejects missing and malformed values with every problem named', () => {
    try {
      configFromEnv({ ...env, RPC_URL: undefined, MARKET_ADDRESS: '0x12', INDEXER_CONFIRMATIONS: '-1' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toContain('RPC_URL is not set: it is required');
      expect(msg).toContain('MARKET_ADDRESS="0x12": must be a 0x-prefixed 20-byte address');
      expect(msg).toContain('INDEXER_CONFIRMATIONS="-1": must be a whole number from 0 to 1000');
      expect(msg).not.toMatch(/rpcUrl|contracts\.market|indexer\.confirmations/);
    }
  });

  it('validates the indexer settings: confirmations within the finality depth, a start block that misses nothing', () => {
    const c = configFromEnv({
      ...env,
      INDEXER_CONFIRMATIONS: '3',
      INDEXER_FINALITY_DEPTH: '20',
      INDEXER_BATCH_BLOCKS: '500',
      INDEXER_START_BLOCK: '0',
    });
    expect(c.indexer).toMatchObject({ confirmations: 3, finalityDepth: 20, batchBlocks: 500, startBlock: 0, healthPort: 4020 });
    expect(configFromEnv(env).indexer.finalityDepth).toBe(64);
    const problems = (over: Record<string, string>) => {
      try {
        configFromEnv({ ...env, ...over });
        return '';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(problems({ INDEXER_CONFIRMATIONS: '10', INDEXER_FINALITY_DEPTH: '5' })).toMatch(
      /INDEXER_FINALITY_DEPTH="5": must be at least the confirmations \(INDEXER_CONFIRMATIONS\)/,
    );
    expect(problems({ INDEXER_START_BLOCK: '7' })).toMatch(/INDEXER_START_BLOCK="7": is after the deployment block 1 \(DEPLOY_BLOCK\)/);
    const three = problems({ INDEXER_BATCH_BLOCKS: '0', INDEXER_FINALITY_DEPTH: 'x', INDEXER_HEALTH_PORT: '70000' });
    expect(three).toContain('INDEXER_BATCH_BLOCKS="0": must be a whole number from 1 to 100000');
    expect(three).toContain('INDEXER_FINALITY_DEPTH="x": must be a whole number from 1 to 10000');
    expect(three).toContain('INDEXER_HEALTH_PORT="70000": must be a whole number from 0 to 65535');
    expect(problems({ NATS_NAMESPACE: 'a.b' })).toMatch(/NATS_NAMESPACE="a.b": letters, digits, _ and - only/);
  });

  it('never echoes a malformed private key', () => {
    const secret = '0xdeadbeef';
    expect(() => configFromEnv({ ...env, SETTLER_PRIVATE_KEY: secret })).toThrow(/SETTLER_PRIVATE_KEY=\(the value given, not shown/);
    try {
      configFromEnv({ ...env, SETTLER_PRIVATE_KEY: secret });
    } catch (e) {
      expect((e as Error).message).not.toContain(secret);
    }
  });

  it('limits calls without a session per client address, trusts no proxy by default, and prunes on an interval', () => {
    const c = configFromEnv(env);
    expect(c.api).toMatchObject({
      publicRateLimitBurst: 300,
      publicRateLimitPerSecond: 5,
      trustProxy: false,
      pruneIntervalMs: 60_000,
      pruneBatchSize: 1000,
    });
    expect(c.api.rateLimitClientKey).toBeUndefined();
    expect(c.relay.retentionHours).toBe(168);
    const set = configFromEnv({
      ...env,
      PUBLIC_RATE_LIMIT_BURST: '40',
      PUBLIC_RATE_LIMIT_PER_SECOND: '0.5',
      PRUNE_INTERVAL_MS: '5000',
      PRUNE_BATCH_SIZE: '200',
      RELAY_RETENTION_HOURS: '24',
    });
    expect(set.api).toMatchObject({ publicRateLimitBurst: 40, publicRateLimitPerSecond: 0.5, pruneIntervalMs: 5000, pruneBatchSize: 200 });
    expect(set.relay.retentionHours).toBe(24);
    expect(configFromEnv({ ...env, API_TRUST_PROXY: 'false' }).api.trustProxy).toBe(false);
    expect(configFromEnv({ ...env, API_TRUST_PROXY: '0' }).api.trustProxy).toBe(false);
    expect(configFromEnv({ ...env, API_TRUST_PROXY: '1' }).api.trustProxy).toBe(1);
    expect(configFromEnv({ ...env, API_TRUST_PROXY: 'loopback, 10.0.0.0/8 ,fd00::/8' }).api.trustProxy).toEqual([
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
    ]);
  });

  it('refuses a trust-proxy setting that would let clients choose their address, malformed limits, and a retention inside the spend window', () => {
    const problems = (over: Record<string, string>) => {
      try {
        configFromEnv({ ...env, ...over });
        return '';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(problems({ API_TRUST_PROXY: 'true' })).toMatch(/API_TRUST_PROXY="true": trusting every proxy/);
    expect(problems({ API_TRUST_PROXY: 'proxy.example.com' })).toMatch(/API_TRUST_PROXY="proxy.example.com": not an IP address/);
    expect(problems({ API_TRUST_PROXY: '10.0.0.0/99' })).toMatch(/API_TRUST_PROXY="10.0.0.0\/99"/);
    expect(problems({ PUBLIC_RATE_LIMIT_BURST: '0', PUBLIC_RATE_LIMIT_PER_SECOND: '-1' })).toMatch(
      /PUBLIC_RATE_LIMIT_BURST="0"[\s\S]*PUBLIC_RATE_LIMIT_PER_SECOND="-1": must be a number > 0/,
    );
    expect(problems({ RELAY_RETENTION_HOURS: '23' })).toMatch(/RELAY_RETENTION_HOURS="23": must be a whole number from 24 to 87600/);
    expect(problems({ PRUNE_BATCH_SIZE: '0' })).toMatch(/PRUNE_BATCH_SIZE="0"/);
    const shortKey = 'tooshort-secret';
    const msg = problems({ RATE_LIMIT_CLIENT_KEY: shortKey });
    expect(msg).toMatch(/RATE_LIMIT_CLIENT_KEY=\(the value given, not shown: a secret\): must be at least 32 characters/);
    expect(msg).not.toContain(shortKey);
  });

  it("runs without a PACS, and takes the RO's DICOMweb root when given", () => {
    expect(configFromEnv(env).dicom).toEqual({});
    expect(configFromEnv({ ...env, DICOMWEB_URL: 'http://pacs:8042/dicom-web' }).dicom.dicomwebUrl).toBe('http://pacs:8042/dicom-web');
    expect(() => configFromEnv({ ...env, DICOMWEB_URL: 'pacs:8042' })).toThrow(
      /DICOMWEB_URL="pacs:8042": must be the http\(s\) DICOMweb root/,
    );
  });

  it('names the environment variable and the value given, with no error that only follows from another one', () => {
    const problems = (over: Record<string, string | undefined>) => {
      try {
        configFromEnv({ ...env, ...over });
        return [];
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).issues;
      }
    };
    // SIWE_DOMAIN and SIWE_URI default to localhost:<API_PORT>: only API_PORT is wrong
    expect(problems({ API_PORT: 'abc' })).toEqual(['API_PORT="abc": must be a whole number from 0 to 65535']);
    expect(problems({ API_PORT: 'abc', SIWE_URI: 'not a url' })).toEqual([
      'API_PORT="abc": must be a whole number from 0 to 65535',
      'SIWE_URI="not a url": must be a URL such as http://localhost:4000',
    ]);
    expect(problems({ INDEXER_HEALTH_PORT: '1.5', RELAY_SPEND_LIMIT_WEI: 'lots' })).toEqual([
      'INDEXER_HEALTH_PORT="1.5": must be a whole number from 0 to 65535',
      'RELAY_SPEND_LIMIT_WEI="lots": must be a whole number of wei ≥ 0',
    ]);
    expect(problems({ ADMIN_ADDRESSES: `0x${'1'.repeat(40)}, 0x12`, CREDENTIAL_WARN_DAYS: '30,x' })).toEqual([
      `ADMIN_ADDRESSES="0x${'1'.repeat(40)}, 0x12": must be a 0x-prefixed 20-byte address`,
      'CREDENTIAL_WARN_DAYS="30,x": must be a whole number from 1 to 365',
    ]);
    // the password of a database URL is not echoed
    const [db] = problems({ DATABASE_URL: 'postgres://u:hunter2@db:5432' + ' x' });
    expect(db).toMatch(/^DATABASE_URL="postgres:\/\/u:\*\*\*@db:5432 x": must be a postgres:\/\/ URL$/);
    expect(problems({ DEPLOY_BLOCK: undefined })).toEqual(['DEPLOY_BLOCK is not set: it is required']);
  });
});
