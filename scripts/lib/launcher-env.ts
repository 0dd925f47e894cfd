import { ConfigError, configFromEnv } from '#config';

/** The settings only `npm start` reads (docs/configuration.md, "Read by `npm start` and the tools only"). */
export interface LauncherSettings {
  apiPort: number;
  embeddedPgPort: number;
  anvilPort: number;
  /** seconds between the local chain's blocks when nobody transacts; 0 = a block per transaction only */
  blockTime: number;
  votingDelay: number;
  votingPeriod: number;
  timelockDelay: number;
  /** exits of one app within restartWindowMs after which the stack stops */
  restartLimit: number;
  restartWindowMs: number;
}

const LAUNCHER_VARIABLES: Record<Exclude<keyof LauncherSettings, 'apiPort'>, [string, number, number, number]> = {
  // setting: [variable, default, min, max]
  embeddedPgPort: ['EMBEDDED_PG_PORT', 54329, 1, 65535],
  anvilPort: ['ANVIL_PORT', 8545, 1, 65535],
  blockTime: ['ANVIL_BLOCK_TIME', 1, 0, 3600],
  votingDelay: ['GOVERNANCE_VOTING_DELAY', 1, 0, 10_000_000],
  votingPeriod: ['GOVERNANCE_VOTING_PERIOD', 300, 1, 10_000_000],
  timelockDelay: ['GOVERNANCE_TIMELOCK_DELAY', 120, 0, 10_000_000],
  restartLimit: ['APP_RESTART_LIMIT', 5, 1, 1000],
  restartWindowMs: ['APP_RESTART_WINDOW_SECONDS', 60, 1, 86_400],
};

/** Placeholders for what `npm start` provides itself when it runs the database or the chain (never sent anywhere). */
const PLACEHOLDER_ADDRESS = `0x${'0'.repeat(39)}1`;
const PLACEHOLDER_KEY = `0x${'0'.repeat(63)}1`;

/**
 * The whole environment, validated before anything slow starts (Postgres, anvil, the deployment): the launcher's own
 * variables and every app setting, with what the launcher will fill in itself (a database URL when it runs Postgres,
 * the RPC URL, chain ID, contract addresses and keys when it runs anvil) taken as given. Throws a ConfigError that
 * names each wrong variable, the value given and the form expected.
 */
export function validateLauncherEnv(env: NodeJS.ProcessEnv): LauncherSettings {
  const problems: string[] = [];
  const settings = { apiPort: 4000 } as LauncherSettings;
  for (const [key, [name, dflt, min, max]] of Object.entries(LAUNCHER_VARIABLES)) {
    const raw = env[name];
    const value = raw === undefined || raw.trim() === '' ? dflt : Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: must be a whole number from ${min} to ${max}`);
      continue;
    }
    settings[key as keyof typeof LAUNCHER_VARIABLES] = key === 'restartWindowMs' ? value * 1000 : value;
  }
  const provided: NodeJS.ProcessEnv = {};
  if (!env.DATABASE_URL) provided.DATABASE_URL = `postgres://postgres@127.0.0.1:${settings.embeddedPgPort ?? 54329}/openread`;
  if (!env.RPC_URL) {
    // startChain sets these from the fresh deployment, over anything in the environment
    Object.assign(provided, {
      RPC_URL: `http://127.0.0.1:${settings.anvilPort ?? 8545}`,
      CHAIN_ID: '31337',
      DEPLOY_BLOCK: '0',
      ...Object.fromEntries(
        [
          'TOKEN_ADDRESS',
          'PARAMETERS_ADDRESS',
          'REGISTRY_ADDRESS',
          'MARKET_ADDRESS',
          'ACCESS_LOG_ANCHOR_ADDRESS',
          'FORWARDER_ADDRESS',
          'RO_DIRECTORY_ADDRESS',
          'STUDY_CUSTODY_ADDRESS',
          'GOVERNOR_ADDRESS',
          'TIMELOCK_ADDRESS',
          'MEMBERSHIP_ADDRESS',
        ].map((name) => [name, PLACEHOLDER_ADDRESS]),
      ),
    });
    // and these only when unset (dev keys, a dev admin)
    for (const name of [
      'RELAYER_PRIVATE_KEY',
      'SETTLER_PRIVATE_KEY',
      'GOVERNANCE_RELAYER_PRIVATE_KEY',
      'TREASURY_RELAYER_PRIVATE_KEY',
      'STUDY_ID_ISSUER_PRIVATE_KEY',
    ])
      if (env[name] === undefined) provided[name] = PLACEHOLDER_KEY;
    if (env.ADMIN_ADDRESSES === undefined) provided.ADMIN_ADDRESSES = PLACEHOLDER_ADDRESS;
  }
  try {
    const config = configFromEnv({ ...env, ...provided });
    settings.apiPort = config.api.port;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.issues);
  }
  if (problems.length) throw new ConfigError(problems);
  return settings;
}
