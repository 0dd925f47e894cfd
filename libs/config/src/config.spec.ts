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
