import proxyaddr from 'proxy-addr';
import { z } from 'zod';

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address')
  .transform((a) => a.toLowerCase());
const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte private key');
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/** Hours the relay spend limit looks back (RelayOutboxRepository); relay rows are kept at least this long. */
export const RELAY_SPEND_WINDOW_HOURS = 24;

/**
 * Which proxies in front of the API may set X-Forwarded-For: `false` (none: the client address is the TCP peer, so
 * it cannot be spoofed), a hop count, or proxy addresses/subnets (and proxy-addr's names loopback, linklocal,
 * uniquelocal). `true` (trust any X-Forwarded-For) is refused: every client could pick its own address.
 */
const trustProxy = z.unknown().optional().transform((raw, ctx): false | number | string[] => {
  const v = typeof raw === 'string' ? raw.trim() : raw;
  if (v === undefined || v === '' || v === false || v === 0 || v === '0' || v === 'false') return false;
  if (v === true || v === 'true') {
    ctx.addIssue({ code: 'custom', message: 'trusting every proxy would let any client choose its address in X-Forwarded-For; give the hop count or the proxies' });
    return z.NEVER;
  }
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) {
    const hops = Number(v);
    if (Number.isInteger(hops) && hops >= 0 && hops <= 100) return hops;
  } else if (typeof v === 'string' || (Array.isArray(v) && v.length && v.every((a) => typeof a === 'string' && a.length))) {
    // API_TRUST_PROXY=loopback,10.0.0.0/8
    const list = typeof v === 'string' ? v.split(',').map((a) => a.trim()).filter(Boolean) : (v as string[]);
    try {
      proxyaddr.compile(list);
      return list;
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `not an IP address, subnet or loopback/linklocal/uniquelocal: ${(e as Error).message}` });
      return z.NEVER;
    }
  }
  ctx.addIssue({ code: 'custom', message: 'must be false, a hop count (0-100) or a list of proxy addresses/subnets' });
  return z.NEVER;
});

/** Everything any app needs, validated once at start. Secrets (keys) never appear in error messages. */
export const configSchema = z.object({
  databaseUrl: z.string().url('must be a postgres:// URL'),
  rpcUrl: z.string().url('must be an http(s) JSON-RPC URL'),
  chainId: int(1),
  contracts: z.object({
    token: address,
    parameters: address,
    registry: address,
    market: address,
    deployBlock: int(0),
    /** AccessLogAnchor; when unset the access log is not anchored on chain */
    accessLogAnchor: address.optional(),
    /** the DAO (optional: without it the governance API answers NOT_FOUND) */
    governor: address.optional(),
    timelock: address.optional(),
    membership: address.optional(),
    /** OpenReadForwarder (ERC-2771) the market trusts; when unset, gasless claims and reports are off */
    forwarder: address.optional(),
  }),
  api: z.object({
    host: z.string().default('127.0.0.1'),
    port: int(0, 65535).default(4000),
    /** EIP-4361 domain the API accepts (host[:port] of the client-facing origin). */
    siweDomain: z.string().min(1),
    /** EIP-4361 URI prefix the API accepts. */
    siweUri: z.string().url(),
    nonceTtlSeconds: int(10).default(600),
    sessionTtlSeconds: int(60).default(12 * 3600),
    /** accounts with the ADMIN role */
    adminAddresses: z.array(address).default([]),
    /** largest JSON request body (encrypted study payloads are uploaded base64 in GraphQL) */
    maxRequestBytes: int(1024).default(64 * 1024 * 1024),
    /** deepest selection set a query may nest (fragments expanded) */
    maxQueryDepth: int(2, 100).default(10),
    /** most fields a query may select, each list field counting `first` (or 100) times its selection */
    maxQueryComplexity: int(10).default(10_000),
    /** per-account token bucket per root operation: burst size and tokens refilled per second */
    rateLimitBurst: int(1).default(300),
    rateLimitPerSecond: z.coerce.number().positive().default(20),
    /**
     * calls without a session (nonce, login, indexerStatus, and protected operations refused as unauthenticated):
     * a token bucket per client address (keyed hash, see limits/client-address.ts) and root operation
     */
    publicRateLimitBurst: int(1).default(300),
    publicRateLimitPerSecond: z.coerce.number().positive().default(5),
    /** secret for the keyed hash of client addresses; unset = a random one per process (buckets then per instance) */
    rateLimitClientKey: z.string().min(32, 'must be at least 32 characters').optional(),
    /** proxies trusted to name the client in X-Forwarded-For (default none) */
    trustProxy,
    /** how often the API deletes full rate-limit buckets, expired nonces and sessions, and old final relay rows */
    pruneIntervalMs: int(100).default(60_000),
    /** rows per DELETE statement while pruning (each batch is its own short transaction) */
    pruneBatchSize: int(1, 100_000).default(1000),
    /** how often the live worklist (subscriptions) looks for new indexed changes while anyone is subscribed */
    feedPollMs: int(10).default(1000),
    /**
     * the market's study-ID issuer key: prepareStudyPosting signs (EIP-712) the random IDs it generates, and
     * StudyMarket.postStudy accepts no other. Unset = the API cannot prepare postings (fails closed).
     */
    studyIdIssuerPrivateKey: privateKey.optional(),
  }),
  indexer: z
    .object({
      /** blocks that must be built on a block before it is indexed (and so shown to anyone) */
      confirmations: int(0, 1000).default(0),
      /** a reorg may undo at most this many blocks; deeper ones stop the indexer; older data is shown as final */
      finalityDepth: int(1, 10_000).default(64),
      pollMs: int(10).default(1000),
      /** blocks per eth_getLogs request while backfilling (halved automatically when the node refuses a range) */
      batchBlocks: int(1, 100_000).default(2000),
      /** first block to index; default: the deployment block (a later one would miss events, and is refused) */
      startBlock: int(0).optional(),
      /** per JSON-RPC request, ms */
      rpcTimeoutMs: int(100, 600_000).default(15_000),
      /** health/readiness HTTP endpoint of the indexer (port 0: any free port) */
      healthHost: z.string().default('127.0.0.1'),
      healthPort: int(0, 65535).default(4020),
      /** ready = caught up to within this many blocks of the confirmed head */
      readyLagBlocks: int(0).default(10),
      /** how far past the indexed head's time the worklist's bounty ceilings are made to hold (README, "Bench") */
      boundsHorizonSeconds: int(120, 30 * 86400).default(3600),
      /** open studies rewritten per refresher transaction */
      boundsChunkRows: int(100, 1_000_000).default(1000),
    })
    .refine((i) => i.finalityDepth >= i.confirmations, {
      message: 'finalityDepth must be at least confirmations (a confirmed block may still be reorged, a final one not)',
      path: ['finalityDepth'],
    }),
  settler: z.object({
    privateKey: privateKey.optional(),
    pollMs: int(10).default(2000),
    /** how often the settler anchors the study access log's head on chain (AccessLogAnchor) */
    anchorIntervalMs: int(100).default(60_000),
    /** warn a radiologist this many days before their credential expires (each threshold once), e.g. [30, 7] */
    credentialWarnDays: z.array(int(1, 365)).min(1).default([30, 7]),
    /** how often the settler looks for expiring and lapsed credentials */
    credentialWatchMs: int(10).default(60_000),
  }),
  governance: z
    .object({
      /** funded key that relays gasless votes (castVoteBySig) and sends queue / execute */
      relayerPrivateKey: privateKey.optional(),
    })
    .default({}),
  relay: z.object({
    /** the funded account that pays the gas of gasless requests; when unset, gasless claims and reports are off */
    privateKey: privateKey.optional(),
    /** most wei the relayer spends on one radiologist's requests in 24 h (reserved at queueing, actual once mined) */
    spendLimitWei: z.coerce.bigint().nonnegative().default(50_000_000_000_000_000n),
    /** a sent transaction not mined after this long is replaced (same nonce, fee +12.5 %) */
    replaceAfterMs: int(100).default(30_000),
    pollMs: int(10).default(250),
    /** final relay rows (mined, reverted, failed) are deleted this long after their last change; ≥ the spend window */
    retentionHours: int(RELAY_SPEND_WINDOW_HOURS, 24 * 3650).default(7 * 24),
  }).prefault({}),
  treasury: z
    .object({
      /** funded key that relays executed treasury payouts (Safe execTransaction with the owners' signatures) */
      relayerPrivateKey: privateKey.optional(),
      /** how long the Safe's owners and threshold read from the chain are reused */
      ownersCacheMs: int(0).default(5000),
    })
    .default({ ownersCacheMs: 5000 }),
  bus: z.object({
    /** When set, apps talk over NATS; otherwise over Nest's TCP transport (needs nothing extra). */
    natsUrl: z.string().optional(),
    /** NATS subject prefix and JetStream stream name (upper-cased) */
    namespace: z.string().regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and - only').default('openread'),
    /** how long a publish may wait for the bus's acknowledgement, ms */
    ackTimeoutMs: int(100).default(5000),
    settlerHost: z.string().default('127.0.0.1'),
    settlerPort: int(0, 65535).default(4010),
  }),
});

export type AppConfig = z.infer<typeof configSchema>;

/** The name of the indexer's stream of one deployment (checkpoint, writer lock). */
export const indexerStream = (config: Pick<AppConfig, 'contracts'>) => `openread:${config.contracts.market}`;
export type AppConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  constructor(public readonly issues: string[]) {
    super(`invalid configuration:\n  - ${issues.join('\n  - ')}`);
  }
}

export function parseConfig(input: unknown): AppConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const c = result.data;
  if (c.indexer.startBlock !== undefined && c.indexer.startBlock > c.contracts.deployBlock)
    throw new ConfigError([
      `indexer.startBlock: ${c.indexer.startBlock} is after the deployment block ${c.contracts.deployBlock}: the events in between would be missed`,
    ]);
  return c;
}

/** Reads the documented environment variables (see README, "Configuration"). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const apiPort = env.API_PORT ?? '4000';
  return parseConfig({
    databaseUrl: env.DATABASE_URL,
    rpcUrl: env.RPC_URL,
    chainId: env.CHAIN_ID,
    contracts: {
      token: env.TOKEN_ADDRESS,
      parameters: env.PARAMETERS_ADDRESS,
      registry: env.REGISTRY_ADDRESS,
      market: env.MARKET_ADDRESS,
      deployBlock: env.DEPLOY_BLOCK,
      accessLogAnchor: env.ACCESS_LOG_ANCHOR_ADDRESS || undefined,
      governor: env.GOVERNOR_ADDRESS || undefined,
      timelock: env.TIMELOCK_ADDRESS || undefined,
      membership: env.MEMBERSHIP_ADDRESS || undefined,
      forwarder: env.FORWARDER_ADDRESS || undefined,
    },
    api: {
      host: env.API_HOST,
      port: apiPort,
      siweDomain: env.SIWE_DOMAIN ?? `localhost:${apiPort}`,
      siweUri: env.SIWE_URI ?? `http://localhost:${apiPort}`,
      nonceTtlSeconds: env.NONCE_TTL_SECONDS,
      sessionTtlSeconds: env.SESSION_TTL_SECONDS,
      adminAddresses: env.ADMIN_ADDRESSES ? env.ADMIN_ADDRESSES.split(',').map((a) => a.trim()) : undefined,
      maxRequestBytes: env.API_MAX_REQUEST_BYTES,
      maxQueryDepth: env.API_MAX_QUERY_DEPTH,
      maxQueryComplexity: env.API_MAX_QUERY_COMPLEXITY,
      rateLimitBurst: env.RATE_LIMIT_BURST,
      rateLimitPerSecond: env.RATE_LIMIT_PER_SECOND,
      publicRateLimitBurst: env.PUBLIC_RATE_LIMIT_BURST,
      publicRateLimitPerSecond: env.PUBLIC_RATE_LIMIT_PER_SECOND,
      rateLimitClientKey: env.RATE_LIMIT_CLIENT_KEY || undefined,
      trustProxy: env.API_TRUST_PROXY,
      pruneIntervalMs: env.PRUNE_INTERVAL_MS,
      pruneBatchSize: env.PRUNE_BATCH_SIZE,
      feedPollMs: env.API_FEED_POLL_MS,
      studyIdIssuerPrivateKey: env.STUDY_ID_ISSUER_PRIVATE_KEY || undefined,
    },
    indexer: {
      confirmations: env.INDEXER_CONFIRMATIONS,
      finalityDepth: env.INDEXER_FINALITY_DEPTH,
      pollMs: env.INDEXER_POLL_MS,
      batchBlocks: env.INDEXER_BATCH_BLOCKS,
      startBlock: env.INDEXER_START_BLOCK || undefined,
      rpcTimeoutMs: env.INDEXER_RPC_TIMEOUT_MS,
      healthHost: env.INDEXER_HEALTH_HOST,
      healthPort: env.INDEXER_HEALTH_PORT,
      readyLagBlocks: env.INDEXER_READY_LAG_BLOCKS,
      boundsHorizonSeconds: env.WORKLIST_BOUNDS_HORIZON_SECONDS,
      boundsChunkRows: env.WORKLIST_BOUNDS_CHUNK_ROWS,
    },
    settler: {
      privateKey: env.SETTLER_PRIVATE_KEY,
      pollMs: env.SETTLER_POLL_MS,
      anchorIntervalMs: env.ACCESS_LOG_ANCHOR_INTERVAL_MS,
      credentialWarnDays: env.CREDENTIAL_WARN_DAYS ? env.CREDENTIAL_WARN_DAYS.split(',').map((d) => d.trim()) : undefined,
      credentialWatchMs: env.CREDENTIAL_WATCH_MS,
    },
    governance: { relayerPrivateKey: env.GOVERNANCE_RELAYER_PRIVATE_KEY || undefined },
    relay: {
      privateKey: env.RELAYER_PRIVATE_KEY || undefined,
      spendLimitWei: env.RELAY_SPEND_LIMIT_WEI,
      replaceAfterMs: env.RELAY_REPLACE_AFTER_MS,
      pollMs: env.RELAY_POLL_MS,
      retentionHours: env.RELAY_RETENTION_HOURS,
    },
    treasury: { relayerPrivateKey: env.TREASURY_RELAYER_PRIVATE_KEY || undefined, ownersCacheMs: env.TREASURY_OWNERS_CACHE_MS },
    bus: {
      natsUrl: env.NATS_URL || undefined,
      namespace: env.NATS_NAMESPACE,
      ackTimeoutMs: env.BUS_ACK_TIMEOUT_MS,
      settlerHost: env.SETTLER_BUS_HOST,
      settlerPort: env.SETTLER_BUS_PORT,
    },
  });
}
