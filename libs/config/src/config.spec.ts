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
      expect(msg).toContain('rpcUrl');
      expect(msg).toContain('contracts.market');
      expect(msg).toContain('indexer.confirmations');
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
      /indexer.finalityDepth: finalityDepth must be at least confirmations/,
    );
    expect(problems({ INDEXER_START_BLOCK: '7' })).toMatch(/indexer.startBlock: 7 is after the deployment block 1/);
    expect(problems({ INDEXER_BATCH_BLOCKS: '0', INDEXER_FINALITY_DEPTH: 'x', INDEXER_HEALTH_PORT: '70000' })).toMatch(
      /indexer.batchBlocks[\s\S]*indexer.finalityDepth[\s\S]*indexer.healthPort|indexer.finalityDepth[\s\S]*indexer.batchBlocks/,
    );
    expect(problems({ NATS_NAMESPACE: 'a.b' })).toMatch(/bus.namespace/);
  });

  it('never echoes a malformed private key', () => {
    const secret = '0xdeadbeef';
    expect(() => configFromEnv({ ...env, SETTLER_PRIVATE_KEY: secret })).toThrow(/settler.privateKey/);
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
    expect(problems({ API_TRUST_PROXY: 'true' })).toMatch(/api.trustProxy: trusting every proxy/);
    expect(problems({ API_TRUST_PROXY: 'proxy.example.com' })).toMatch(/api.trustProxy: not an IP address/);
    expect(problems({ API_TRUST_PROXY: '10.0.0.0/99' })).toMatch(/api.trustProxy/);
    expect(problems({ PUBLIC_RATE_LIMIT_BURST: '0', PUBLIC_RATE_LIMIT_PER_SECOND: '-1' })).toMatch(
      /api.publicRateLimitBurst[\s\S]*api.publicRateLimitPerSecond/,
    );
    expect(problems({ RELAY_RETENTION_HOURS: '23' })).toMatch(/relay.retentionHours/);
    expect(problems({ PRUNE_BATCH_SIZE: '0' })).toMatch(/api.pruneBatchSize/);
    const shortKey = 'tooshort-secret';
    const msg = problems({ RATE_LIMIT_CLIENT_KEY: shortKey });
    expect(msg).toMatch(/api.rateLimitClientKey: must be at least 32 characters/);
    expect(msg).not.toContain(shortKey);
  });
});
