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
    const c = configFromEnv({ ...env, INDEXER_CONFIRMATIONS: '3', INDEXER_FINALITY_DEPTH: '20', INDEXER_BATCH_BLOCKS: '500', INDEXER_START_BLOCK: '0' });
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
    expect(problems({ INDEXER_CONFIRMATIONS: '10', INDEXER_FINALITY_DEPTH: '5' })).toMatch(/indexer.finalityDepth: finalityDepth must be at least confirmations/);
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
});
