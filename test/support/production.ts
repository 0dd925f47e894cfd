import { Wallet } from 'ethers';

/**
 * The settings production mode (NODE_ENV=production) requires beyond the chain, database and contracts: a public
 * SIWE origin, enough confirmations, the shared secrets, and service keys of the deployment's own (fresh random
 * keys here, never anvil's well-known ones). Tests that start an app in production mode spread it into its env.
 */
export function productionEnv(): Record<string, string> {
  const key = () => Wallet.createRandom().privateKey;
  return {
    NODE_ENV: 'production',
    SIWE_DOMAIN: 'openread.example.org',
    SIWE_URI: 'https://openread.example.org',
    INDEXER_CONFIRMATIONS: '12',
    RATE_LIMIT_CLIENT_KEY: Wallet.createRandom().privateKey.slice(2),
    API_CURSOR_SECRET: Wallet.createRandom().privateKey.slice(2),
    SETTLER_PRIVATE_KEY: key(),
    RELAYER_PRIVATE_KEY: key(),
    GOVERNANCE_RELAYER_PRIVATE_KEY: key(),
    TREASURY_RELAYER_PRIVATE_KEY: key(),
    STUDY_ID_ISSUER_PRIVATE_KEY: key(),
  };
}
