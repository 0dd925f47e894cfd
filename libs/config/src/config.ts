import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { productionProblems } from './production.js';

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address')
  .transform((a) => a.toLowerCase());
const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte private key');
/** A whole number given as text (an environment variable); the message states the form expected, never `NaN`. */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const expected = `must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`}`;
  return z.coerce.number({ error: expected }).int({ error: expected }).min(min, { error: expected }).max(max, { error: expected });
};

/** Hours the relay spend limit looks back (RelayOutboxRepository); relay rows are kept at least this long. */
export const RELAY_SPEND_WINDOW_HOURS = 24;

/**
 * Which proxies in front of the API may set X-Forwarded-For: `false` (none: the client address is the TCP peer, so
 * it cannot be spoofed), a hop count, or proxy addresses/subnets (and proxy-addr's names loopback, linklocal,
 * uniquelocal). `true` (trust any X-Forwarded-For) is refused: every client could pick its own address.
 */
const trustProxy = z
  .unknown()
  .optional()
  .transform((raw, ctx): false | number | string[] => {
    const v = typeof raw === 'string' ? raw.trim() : raw;
    if (v === undefined || v === '' || v === false || v === 0 || v === '0' || v === 'false') return false;
    if (v === true || v === 'true') {
      ctx.addIssue({
        code: 'custom',
        message: 'trusting every proxy would let any client choose its address in X-Forwarded-For; give the hop count or the proxies',
      });
      return z.NEVER;
    }
    if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) {
      const hops = Number(v);
      if (Number.isInteger(hops) && hops >= 0 && hops <= 100) return hops;
    } else if (typeof v === 'string' || (Array.isArray(v) && v.length && v.every((a) => typeof a === 'string' && a.length))) {
      // API_TRUST_PROXY=loopback,10.0.0.0/8
      const list =
        typeof v === 'string'
          ? v
              .split(',')
              .map((a) => a.trim())
              .filter(Boolean)
          : (v as string[]);
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

/**
 * Everything any app needs, validated once at start. Secrets (keys) never appear in error messages. Each setting's
 * `.describe()` is its documentation: `npm run docs:config` renders docs/configuration.md from this schema (and the
 * environment variable names from configFromEnv), and a test fails when that page differs from the schema.
 */
export const configSchema = z.object({
  databaseUrl: z
    .string()
    .url('must be a postgres:// URL')
    .describe(
      "Postgres connection URL the apps use (npm start: its embedded Postgres). In production a login role granted `openread_app` (DML only, see migration AppRole), not the tables' owner",
    ),
  databaseMigrationUrl: z
    .string()
    .url('must be a postgres:// URL')
    .optional()
    .describe("Postgres connection URL migrations run with, as the tables' owner; unset = DATABASE_URL"),
  rpcUrl: z.string().url('must be an http(s) JSON-RPC URL').describe('JSON-RPC endpoint of the chain (npm start: its local anvil)'),
  chainId: int(1).describe('chain ID the apps expect (npm start: 31337, anvil)'),
  nodeEnv: z
    .string()
    .optional()
    .describe(
      '`production` = production mode: every app refuses to start while a dev default is in effect (local SIWE domain, fewer confirmations than 12, a well-known dev key, a missing shared secret, a local chain ID; docs/security.md#production-mode), introspection is off unless API_INTROSPECTION=true, and logs are JSON lines unless LOG_FORMAT says otherwise',
    ),
  logFormat: z
    .enum(['json', 'text'], { error: 'must be json or text' })
    .optional()
    .describe('`json` = one JSON object per line (pino), `text` = readable lines; unset = json in production mode, text otherwise'),
  allowLocalChainId: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional()
    .describe('`true` lets production mode run on a local dev chain ID (31337, 1337), e.g. a private chain that kept it; unset = refused'),
  dependencyTimeoutMs: int(100, 600_000)
    .default(2000)
    .describe(
      'deadline of one call to a dependency: connecting to Postgres, waiting for a pooled connection, an API query (also its `statement_timeout`), a chain-node request, a readiness check. A request whose dependency is down answers `DATABASE_UNAVAILABLE` / `CHAIN_UNAVAILABLE` within it (`BUS_UNAVAILABLE` is reserved: no request waits for the bus today), ms',
    ),
  logRepeatIntervalMs: int(1000, 3_600_000)
    .default(10_000)
    .describe(
      'a failure that repeats (every poll of a loop, every request while a dependency is down) is logged once, then once per this interval with its count, ms',
    ),
  backgroundQueryTimeoutMs: int(1000, 3_600_000)
    .default(60_000)
    .describe(
      "deadline of one query of the indexer's and the worker's background passes (their batches are larger than a request's; also their `statement_timeout`), ms",
    ),
  contracts: z.object({
    token: address.describe('the ERC-20 the market pays in (npm start: TestUSD of the local deployment)'),
    parameters: address.describe('IncentiveParameters (npm start: from the local deployment)'),
    registry: address.describe('CredentialRegistry (npm start: from the local deployment)'),
    market: address.describe('StudyMarket (npm start: from the local deployment)'),
    deployBlock: int(0).describe('block of the deployment: the indexer starts there (npm start: from the local deployment)'),
    accessLogAnchor: address
      .optional()
      .describe('AccessLogAnchor (npm start: from the local deployment); unset = the study access log is not anchored on chain'),
    governor: address
      .optional()
      .describe("the DAO's governor (npm start: from the local deployment); unset = no governance API (`NOT_FOUND`)"),
    timelock: address.optional().describe("the DAO's timelock (npm start: from the local deployment)"),
    membership: address.optional().describe("the DAO's MembershipToken (npm start: from the local deployment)"),
    forwarder: address
      .optional()
      .describe('OpenReadForwarder (ERC-2771) that StudyMarket trusts (npm start: from the local deployment); unset = no gasless requests'),
    roDirectory: address
      .optional()
      .describe("the imaging exchange's RoDirectory (npm start: from the local deployment); unset = its events are not indexed"),
    studyCustody: address
      .optional()
      .describe("the imaging exchange's StudyCustody (npm start: from the local deployment); unset = its events are not indexed"),
  }),
  api: z.object({
    host: z.string().default('127.0.0.1').describe('address the GraphQL API listens on'),
    port: int(0, 65535).default(4000).describe('port the GraphQL API listens on'),
    siweDomain: z.string().min(1).describe('EIP-4361 domain sign-in messages must name (host[:port] of the client-facing origin)'),
    siweUri: z.string().url('must be a URL such as http://localhost:4000').describe('EIP-4361 URI prefix sign-in messages must name'),
    introspection: z
      .enum(['true', 'false'], { error: 'must be true or false' })
      .optional()
      .describe(
        'GraphQL introspection (`__schema`, `__type`); unset = on, except in production mode (NODE_ENV=production), where it is off',
      ),
    nonceTtlSeconds: int(10).default(600).describe('sign-in nonce lifetime, seconds'),
    sessionTtlSeconds: int(60)
      .default(12 * 3600)
      .describe('session lifetime, seconds'),
    adminAddresses: z
      .array(address)
      .default([])
      .describe(
        'comma-separated accounts with the ADMIN role (platform admins: onboard ROs with `createRo`, add and remove their members)',
      ),
    maxRequestBytes: int(1024)
      .default(100 * 1024)
      .describe(
        'largest JSON request body, bytes, of every request but the byte uploads (`uploadStudyPayload`, `submitEncryptedReport`), and largest graphql-ws frame; read before authentication, so keep it small',
      ),
    maxUploadBytes: int(1024)
      .default(64 * 1024 * 1024)
      .describe(
        'largest JSON request body of a request whose only operation is a byte upload (`uploadStudyPayload`, `submitEncryptedReport`: base64 in GraphQL), bytes',
      ),
    maxRootFields: int(1, 10_000)
      .default(50)
      .describe(
        'most root fields (aliases and `__schema`/`__typename` included, fragments expanded) one operation may select; more is refused (`BAD_INPUT`, `TOO_MANY_ROOT_FIELDS`)',
      ),
    maxTokens: int(100, 1_000_000)
      .default(5_000)
      .describe('most lexical tokens the GraphQL parser reads of one document before refusing it (`BAD_INPUT`)'),
    maxFeedsPerAccount: int(1, 1000)
      .default(5)
      .describe('most live subscriptions (`worklistEvents`) one account may hold open at once, over all its sockets'),
    cursorSecret: z
      .string()
      .min(32, 'must be at least 32 characters')
      .optional()
      .describe(
        "secret (≥ 32 characters) for the HMAC that signs worklist cursors (their time is the page's `asOf`); unset = a random key per process. Set the same one on every API instance so a cursor from one is accepted by another",
      ),
    cursorMaxAgeSeconds: int(10)
      .default(3600)
      .describe(
        'oldest chain time a worklist cursor may carry (its `asOf`) relative to now, seconds; an older cursor is refused (`BAD_INPUT`)',
      ),
    maxQueryDepth: int(2, 100)
      .default(10)
      .describe('deepest selection set a query may nest (fragments expanded); deeper is refused (`BAD_INPUT`, `QUERY_TOO_DEEP`)'),
    maxQueryComplexity: int(10)
      .default(10_000)
      .describe(
        'most fields a query may select, a list field counting `first` (or 100 for a variable) times its selection (`BAD_INPUT`, `QUERY_TOO_COMPLEX`)',
      ),
    newAccountSignInsPerHour: int(1)
      .default(20)
      .describe(
        'sign-ins of accounts without any role (not a radiologist, RO member, verifier or admin: a fresh wallet) one client address may make per hour (burst the same); more are refused (`RATE_LIMITED`)',
      ),
    roMaxUnpostedStudies: int(1)
      .default(200)
      .describe(
        'study postings one RO may have prepared (`prepareStudyPosting`) and not yet posted on chain within their issuance hour; more is refused (`RATE_LIMITED`, `QUOTA`)',
      ),
    roPayloadQuotaBytes: int(1)
      .default(50 * 1024 * 1024 * 1024)
      .describe(
        'encrypted payload bytes one RO may keep stored for studies that are not settled or cancelled (payloads of postings never posted on chain count too); an upload past it is refused (`RATE_LIMITED`, `QUOTA`)',
      ),
    rateLimitBurst: int(1).default(300).describe('per-account token bucket per root operation: burst'),
    rateLimitPerSecond: z.coerce
      .number({ error: 'must be a number > 0' })
      .positive({ error: 'must be a number > 0' })
      .default(20)
      .describe('per-account token bucket per root operation: tokens refilled per second'),
    publicRateLimitBurst: int(1)
      .default(300)
      .describe(
        'per-client-address bucket for calls without a session (`nonce`, `login`, `indexerStatus` each; protected operations refused as unauthenticated share one; see limits/client-address.ts): burst',
      ),
    publicRateLimitPerSecond: z.coerce
      .number({ error: 'must be a number > 0' })
      .positive({ error: 'must be a number > 0' })
      .default(5)
      .describe('per-client-address bucket for calls without a session: tokens refilled per second'),
    rateLimitClientKey: z
      .string()
      .min(32, 'must be at least 32 characters')
      .optional()
      .describe(
        'secret (≥ 32 characters) for the HMAC under which client addresses are stored; unset = a random key per process. Set the same one on every API instance to share their client buckets',
      ),
    addressInFlight: int(1, 100_000)
      .default(16)
      .describe(
        "requests one client address (IPv6: its /64) may have in flight at once over HTTP, counted before the body is read; one more is refused (HTTP 429, `RATE_LIMITED`, `TOO_MANY_IN_FLIGHT`). Requests with a bearer token count in their token's lane instead",
      ),
    addressBurst: int(1)
      .default(30)
      .describe(
        'in-memory token bucket per client address over HTTP, charged one token per request before its body is read (refused, invalid and introspection requests included): burst; empty = HTTP 429 `RATE_LIMITED` with `Retry-After`',
      ),
    addressPerSecond: z.coerce
      .number({ error: 'must be a number > 0' })
      .positive({ error: 'must be a number > 0' })
      .default(5)
      .describe('in-memory token bucket per client address over HTTP: tokens refilled per second'),
    tokenInFlight: int(1, 100_000)
      .default(64)
      .describe(
        'requests one bearer token (any well-formed `Authorization: Bearer …`, its own lane apart from its address) may have in flight at once over HTTP; one more is refused (HTTP 429)',
      ),
    tokenBurst: int(1).default(1000).describe('in-memory token bucket per bearer token over HTTP, one token per request: burst'),
    tokenPerSecond: z.coerce
      .number({ error: 'must be a number > 0' })
      .positive({ error: 'must be a number > 0' })
      .default(200)
      .describe('in-memory token bucket per bearer token over HTTP: tokens refilled per second'),
    limiterMaxLanes: int(100, 10_000_000)
      .default(100_000)
      .describe(
        'most client addresses and bearer tokens the in-memory limiter tracks (about 100 bytes each); past it the least recently seen idle ones are forgotten',
      ),
    trustProxy: trustProxy.describe(
      'proxies allowed to name the client in `X-Forwarded-For`: a hop count, or comma-separated addresses/subnets (`loopback`, `10.0.0.0/8`, …). Unset: trust none, the TCP peer is the client and the header cannot be spoofed; `true` is refused',
    ),
    pruneIntervalMs: int(100)
      .default(60_000)
      .describe(
        'how often the worker (settler) prunes full rate-limit buckets, expired nonces and sessions, and old final outbox rows, ms',
      ),
    pruneBatchSize: int(1, 100_000).default(1000).describe('rows per DELETE while pruning (each batch its own short transaction)'),
    feedPollMs: int(10)
      .default(1000)
      .describe('how often the live worklist (subscriptions) looks for newly indexed changes while anyone is subscribed, ms'),
    studyIdIssuerPrivateKey: privateKey
      .optional()
      .describe(
        "the market's study-ID issuer (npm start: dev account #11): `prepareStudyPosting` signs (EIP-712 `StudyIdIssuance`) the random study IDs it generates, and `StudyMarket.postStudy` accepts no other; it holds no funds. npm start deploys the market with this key's address as issuer (the owner, i.e. the DAO timelock, replaces it with `setStudyIdIssuer`). Unset = `prepareStudyPosting` refuses (`CHAIN_UNAVAILABLE`)",
      ),
    authCacheMs: int(0, 3_600_000)
      .default(10_000)
      .describe(
        "how long an API instance may answer a bearer token's session and the account's roles from its memory instead of Postgres, ms (0: never). Used only while the instance is notified of logouts and role changes (Postgres LISTEN), so those apply at once on every instance; this bounds only what no notification covers (a session or role row changed by hand, the treasury Safe's owners). A cached entry only ever lets a request through: a refusal is checked against Postgres first",
      ),
  }),
  indexer: z
    .object({
      confirmations: int(0, 1000)
        .default(0)
        .describe('blocks that must be built on a block before it is indexed, i.e. before anyone sees it'),
      finalityDepth: int(1, 10_000)
        .default(64)
        .describe('deepest reorg the indexer rolls back; deeper ones halt it; older data is shown `FINAL`. Must be ≥ confirmations'),
      pollMs: int(10).default(1000).describe('poll interval when caught up, ms'),
      batchBlocks: int(1, 100_000)
        .default(2000)
        .describe('blocks per eth_getLogs request while backfilling (ranges the node refuses are split)'),
      startBlock: int(0)
        .optional()
        .describe('first block to index; default the deployment block (a later one is refused: it would miss events)'),
      rpcTimeoutMs: int(100, 600_000).default(15_000).describe('timeout per JSON-RPC request, ms'),
      healthHost: z.string().default('127.0.0.1').describe("address of the indexer's `/health` and `/ready` endpoints"),
      healthPort: int(0, 65535).default(4020).describe("port of the indexer's `/health` and `/ready` endpoints (0: any free port)"),
      readyLagBlocks: int(0).default(10).describe('`/ready` = the writer, caught up to within this many blocks of the confirmed head'),
      boundsHorizonSeconds: int(120, 30 * 86400)
        .default(3600)
        .describe(
          "how far past the indexed head's time the worklist's bounty ceilings hold (a refresh starts when half is left); see docs/decisions/0001-bounty-ceilings.md",
        ),
      boundsChunkRows: int(100, 1_000_000).default(1000).describe('open studies rewritten per bounty-ceiling refresher transaction'),
    })
    .refine((i) => i.finalityDepth >= i.confirmations, {
      message: 'must be at least the confirmations (INDEXER_CONFIRMATIONS): a confirmed block may still be reorged, a final one not',
      path: ['finalityDepth'],
    }),
  settler: z.object({
    privateKey: privateKey
      .optional()
      .describe("the settler's funded key: sends settle and lease-release transactions (npm start: dev account #9)"),
    pollMs: int(10).default(2000).describe("the settler's poll interval, ms"),
    anchorIntervalMs: int(100)
      .default(60_000)
      .describe(
        "how often the settler verifies and anchors the study access log's head on chain (AccessLogAnchor; needs ANCHORER_ROLE), ms",
      ),
    auditIntervalMs: int(100)
      .default(3_600_000)
      .describe(
        'how often the settler re-verifies the whole study access log against its on-chain anchor (a rewrite of any entry is logged once as an error and shown in `AccessLogAnchorService.auditStatus()`), ms',
      ),
    credentialWarnDays: z
      .array(int(1, 365))
      .min(1)
      .default([30, 7])
      .describe('comma-separated days before a credential expires that the settler warns the radiologist (each once)'),
    credentialWatchMs: int(10).default(60_000).describe('how often the settler looks for expiring and lapsed credentials, ms'),
    healthHost: z
      .string()
      .default('127.0.0.1')
      .describe("address of the worker's (settler's) `/health`, `/ready` and `/metrics` endpoints"),
    healthPort: int(0, 65535)
      .default(4030)
      .describe("port of the worker's (settler's) `/health`, `/ready` and `/metrics` endpoints (0: any free port)"),
  }),
  governance: z
    .object({
      relayerPrivateKey: privateKey
        .optional()
        .describe('funded key that relays gasless votes (castVoteBySig) and sends queue / execute (npm start: dev account #8)'),
    })
    .default({}),
  relay: z
    .object({
      privateKey: privateKey
        .optional()
        .describe(
          'the funded account that pays the gas of gasless claims, reports and withdrawals (npm start: dev account #19); unset = no gasless requests',
        ),
      spendLimitWei: z.coerce
        .bigint({ error: 'must be a whole number of wei ≥ 0' })
        .nonnegative({ error: 'must be a whole number of wei ≥ 0' })
        .default(50_000_000_000_000_000n)
        .describe(
          'most wei the relayer spends on one radiologist in 24 h (0.05 ETH by default; worst case reserved when queued, actual once mined)',
        ),
      replaceAfterMs: int(100)
        .default(30_000)
        .describe('a relayed transaction not mined after this long is replaced (same nonce, fee +12.5 %, at most 10× the first), ms'),
      pollMs: int(10)
        .default(250)
        .describe(
          "how often the worker's sender looks at the transaction outbox (and, at least every 100 ms, how often a waiting API request re-reads its row), ms",
        ),
      requestTtlSeconds: int(60, 24 * 3600)
        .default(15 * 60)
        .describe(
          'a gasless request is refused when its deadline is further away than this (and prepared requests expire after it), seconds',
        ),
      feePercentile: int(1, 99)
        .default(50)
        .describe("the relayer's priority fee: this percentile of the tips paid in the last 20 blocks (eth_feeHistory)"),
      maxPriorityFeeWei: z.coerce
        .bigint()
        .positive()
        .default(2_000_000_000n)
        .describe("the relayer's priority fee never exceeds this (2 gwei by default), wei per gas"),
      retentionHours: int(RELAY_SPEND_WINDOW_HOURS, 24 * 3650)
        .default(7 * 24)
        .describe(
          'final relay requests (mined, reverted, refused) are deleted this long after their last change; at least 24 (the spend window)',
        ),
    })
    .prefault({}),
  treasury: z
    .object({
      relayerPrivateKey: privateKey
        .optional()
        .describe(
          'funded key that sends treasury payouts (Safe `execTransaction`) once the owners have signed (npm start: dev account #10); unset = payouts cannot execute (`CHAIN_UNAVAILABLE`)',
        ),
      ownersCacheMs: int(0)
        .default(5000)
        .describe(
          "how long the treasury Safe's owners and threshold (the `TREASURY_OWNER` role) are reused before reading the chain again, ms",
        ),
    })
    .default({ ownersCacheMs: 5000 }),
  dicom: z
    .object({
      dicomwebUrl: z
        .string()
        .regex(/^https?:\/\/[^/\s]+/, 'must be the http(s) DICOMweb root of the PACS, e.g. http://pacs:8042/dicom-web')
        .optional()
        .describe(
          "the RO's PACS over DICOMweb (QIDO-RS, WADO-RS; Orthanc with its DICOMweb plugin: http://HOST:8042/dicom-web); unset = no PACS connected (npm start runs without one)",
        ),
      dicomwebAuthorization: z
        .string()
        .optional()
        .describe('Authorization header sent to the PACS (e.g. `Basic …`); unset = none. Never logged'),
    })
    .default({}),
  storage: z
    .object({
      blobStore: z
        .enum(['fs', 's3'], { error: 'must be fs or s3' })
        .default('fs')
        .describe(
          'where encrypted study chunks are kept: `fs` = files under BLOB_FS_ROOT (npm start), `s3` = one bucket of any S3-compatible object storage (BLOB_S3_*)',
        ),
      fsRoot: z
        .string()
        .min(1)
        .default('.openread/blobs')
        .describe(
          'directory of the filesystem blob store (BLOB_STORE=fs), created if missing; npm start: `.openread/blobs` under its data directory',
        ),
      s3Endpoint: z
        .string()
        .regex(/^https?:\/\/[^/\s]+/, 'must be the http(s) URL of the S3 API, e.g. https://s3.eu-central-1.amazonaws.com')
        .optional()
        .describe("the S3 API's URL (BLOB_STORE=s3); unset = AWS's endpoint of BLOB_S3_REGION"),
      s3Region: z.string().min(1).default('us-east-1').describe('the S3 region (BLOB_STORE=s3)'),
      s3Bucket: z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)')
        .optional()
        .describe('the bucket that holds the chunks (BLOB_STORE=s3: required)'),
      s3Prefix: z.string().default('chunks/').describe('key prefix of the chunk objects in the bucket'),
      s3AccessKeyId: z
        .string()
        .min(1)
        .optional()
        .describe(
          "access key ID of the S3 credentials; unset (with BLOB_S3_ACCESS_SECRET) = the AWS SDK's default chain (environment, instance role)",
        ),
      s3SecretAccessKey: z
        .string()
        .min(1)
        .optional()
        .describe('secret access key of the S3 credentials, set together with BLOB_S3_ACCESS_KEY_ID. Never logged'),
      s3ForcePathStyle: z
        .enum(['true', 'false'], { error: 'must be true or false' })
        .default('false')
        .describe('`true` = path-style requests (`endpoint/bucket/key`), as MinIO, Garage and most self-hosted S3 APIs need'),
      deadlineMs: int(100, 600_000)
        .default(30_000)
        .describe('deadline of one blob-store operation (a put, the start of a get, an existence check), ms'),
      uploadDir: z
        .string()
        .min(1)
        .default('.openread/uploads')
        .describe('directory where the API keeps partly received resumable (tus) chunk uploads until they are verified and stored'),
      maxChunkBytes: int(1024, 256 * 1024 * 1024)
        .default(4 * 1024 * 1024)
        .describe('largest chunk an upload may declare, bytes (a study stored with the default 4 MiB chunks needs 4 MiB)'),
      maxManifestBytes: int(1024, 256 * 1024 * 1024)
        .default(16 * 1024 * 1024)
        .describe(
          'largest study manifest the API accepts, bytes (about 170 bytes per chunk: 16 MiB lists ~100,000 chunks, 400 GB at 4 MiB)',
        ),
      downloadDeadlineMs: int(1000, 3_600_000)
        .default(120_000)
        .describe(
          'how long one chunk download may take from request to last byte before the API cuts it (the client resumes with Range), ms',
        ),
    })
    .prefault({})
    .describe('study storage'),
  roAgent: z
    .object({
      keyFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          "the RO agent's key file (JSON: the RO's X25519 `encryptionPrivateKey`, its grant `signerPrivateKey`, the gas-paying `senderPrivateKey`); mode 0600 or the agent refuses to start; never copied to the database or the logs (npm start: one per dev exchange RO under the data directory); unset = the agent does not start",
        ),
      holdingsDir: z
        .string()
        .min(1)
        .optional()
        .describe(
          "the RO agent's study holdings: `<studyId>.study` (the study encrypted under its study key) and `<studyId>.key` (that key sealed to the RO's X25519 key); unset = the agent holds no study and denies every request",
        ),
      ro: address
        .optional()
        .describe("the RO's principal account in RoDirectory: the custodian the agent answers for; unset = the agent does not start"),
      signerKeyId: int(1)
        .optional()
        .describe("the RoDirectory key ID whose signer is the key file's `signerPrivateKey`; unset = the agent does not start"),
      policy: z
        .enum(['auto', 'manual'], { error: 'must be auto or manual' })
        .default('auto')
        .describe(
          '`auto` grants every request of an admitted RO at once; `manual` queues it for approval (the admin endpoints of the agent)',
        ),
      pollMs: int(100)
        .default(2000)
        .describe('how often the RO agent scans the chain for lease requests and the access log for fetches after expiry, ms'),
      host: z.string().default('127.0.0.1').describe("address of the RO agent's `/health`, `/ready`, `/metrics` and approval endpoints"),
      port: int(0, 65535).default(4040).describe("port of the RO agent's HTTP endpoints (0: any free port)"),
    })
    .default({ policy: 'auto', pollMs: 2000, host: '127.0.0.1', port: 4040 }),
  bus: z.object({
    natsUrl: z
      .string()
      .optional()
      .describe("NATS server: the apps then talk over NATS JetStream; unset = Nest's TCP transport (needs nothing extra)"),
    namespace: z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('openread')
      .describe('NATS subject prefix and JetStream stream name (upper-cased)'),
    ackTimeoutMs: int(100)
      .default(5000)
      .describe("how long a publish waits for the bus's acknowledgement before the event stays in the outbox, ms"),
    settlerHost: z.string().default('127.0.0.1').describe("the settler's TCP transport address"),
    settlerPort: int(0, 65535).default(4010).describe("the settler's TCP transport port"),
  }),
});

export type AppConfig = z.infer<typeof configSchema>;

/** Production mode (NODE_ENV=production): no dev default may be in effect (production.ts). */
export const isProduction = (config: Pick<AppConfig, 'nodeEnv'>) => config.nodeEnv === 'production';

/** Whether the API answers introspection: API_INTROSPECTION if set, otherwise on except in production mode. */
export const introspectionOn = (config: Pick<AppConfig, 'nodeEnv' | 'api'>) =>
  config.api.introspection === undefined ? !isProduction(config) : config.api.introspection === 'true';

/** The name of the indexer's stream of one deployment (checkpoint, writer lock). */
export const indexerStream = (config: Pick<AppConfig, 'contracts'>) => `openread:${config.contracts.market}`;
export type AppConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  constructor(public readonly issues: string[]) {
    super(`invalid configuration:\n  - ${issues.join('\n  - ')}`);
  }
}

/** One problem of a configuration: where it is (a path in AppConfig) and what is wrong. */
interface Problem {
  path: PropertyKey[];
  message: string;
  /** a dev default production mode refuses: told even when the value was computed from other variables */
  production?: boolean;
}

/** How a problem is told: by its path in AppConfig, or (configFromEnv) by the environment variable that set it. */
type Describe = (problems: Problem[]) => string[];
const byPath: Describe = (problems) => problems.map((p) => `${p.path.map(String).join('.') || '(root)'}: ${p.message}`);

function problemsOf(input: unknown): { config?: AppConfig; problems: Problem[] } {
  const result = configSchema.safeParse(input);
  if (!result.success) return { problems: result.error.issues.map((i) => ({ path: i.path, message: i.message })) };
  const c = result.data;
  const problems: Problem[] = [];
  if (c.indexer.startBlock !== undefined && c.indexer.startBlock > c.contracts.deployBlock)
    problems.push({
      path: ['indexer', 'startBlock'],
      message: `is after the deployment block ${c.contracts.deployBlock} (DEPLOY_BLOCK): the events in between would be missed`,
    });
  problems.push(...storageProblems(c.storage));
  if (isProduction(c)) problems.push(...productionProblems(c).map((p) => ({ ...p, production: true })));
  return problems.length ? { problems } : { config: c, problems: [] };
}

export function parseConfig(input: unknown, describe: Describe = byPath): AppConfig {
  const { config, problems } = problemsOf(input);
  if (!config) throw new ConfigError(describe(problems));
  return config;
}

/** Reads the documented environment variables (docs/configuration.md), and names them in every error. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return parseConfig(configInput(env), (problems) => describeByVariable(problems, env));
}

/**
 * The environment variable each setting comes from: configInput run over an environment whose every variable reads
 * as a marker naming it. A setting whose value is not a marker is computed by configInput alone.
 */
const VARIABLE = '\u0000env:';
const markedInput = () => configInput(new Proxy({}, { get: (_, name) => (typeof name === 'string' ? VARIABLE + name : undefined) }));

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (typeof v === 'string') break; // a list split from one variable: the variable
    if (Array.isArray(v)) v = (v as unknown[])[Number(key)] ?? v[0];
    else if (v && typeof v === 'object') v = (v as Record<PropertyKey, unknown>)[key];
    else return undefined;
  }
  return v;
}

function variableAt(input: unknown, path: PropertyKey[]): string | undefined {
  const v = valueAt(input, path);
  return typeof v === 'string' && v.startsWith(VARIABLE) ? v.slice(VARIABLE.length) : undefined;
}

/** Secrets are never echoed: keys, and the password of a database URL. */
const SECRET = /PRIVATE_KEY$|CLIENT_KEY$|SECRET$/;
function shown(name: string, value: string): string {
  if (SECRET.test(name)) return '(the value given, not shown: a secret)';
  if (name === 'DATABASE_URL') return JSON.stringify(value.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@'));
  return JSON.stringify(value);
}

/**
 * `API_PORT="abc": must be a whole number from 0 to 65535`. A variable that is unset but whose setting failed took a
 * fallback computed from another variable (SIWE_URI from API_PORT): when that other variable is wrong too, its
 * error is the one to fix, so the consequence is not listed.
 */
function describeByVariable(problems: Problem[], env: NodeJS.ProcessEnv): string[] {
  const marked = markedInput();
  const actual = configInput(env);
  const told = problems.map((p) => {
    const name = variableAt(marked, p.path);
    const value = name === undefined ? undefined : env[name];
    const computed = value === undefined && valueAt(actual, p.path) !== undefined;
    return { p, name, value, computed };
  });
  const causes = told.filter((t) => !t.computed || t.p.production);
  return (causes.length ? causes : told).map(({ p, name, value, computed }) => {
    if (name === undefined) return byPath([p])[0];
    if (p.production && value === undefined) {
      const fallback = valueAt(actual, p.path);
      return computed && !SECRET.test(name)
        ? `${name} is not set, so it is ${JSON.stringify(fallback)}, which ${p.message}`
        : `${name} is not set: it ${p.message}`;
    }
    if (computed) return `${name} is not set, and the default computed from the other variables ${p.message}`;
    if (value === undefined) return `${name} is not set: it is required`;
    return `${name}=${shown(name, value)}: ${p.message}`;
  });
}

/** Which environment variable fills which setting (docs/configuration.md is rendered from this function). */
function configInput(env: NodeJS.ProcessEnv) {
  const apiPort = env.API_PORT ?? '4000';
  return {
    databaseUrl: env.DATABASE_URL,
    databaseMigrationUrl: env.DATABASE_MIGRATION_URL || undefined,
    rpcUrl: env.RPC_URL,
    chainId: env.CHAIN_ID,
    nodeEnv: env.NODE_ENV || undefined,
    allowLocalChainId: env.ALLOW_LOCAL_CHAIN_ID || undefined,
    dependencyTimeoutMs: env.DEPENDENCY_TIMEOUT_MS,
    backgroundQueryTimeoutMs: env.BACKGROUND_QUERY_TIMEOUT_MS,
    logRepeatIntervalMs: env.LOG_REPEAT_INTERVAL_MS,
    logFormat: env.LOG_FORMAT || undefined,
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
      roDirectory: env.RO_DIRECTORY_ADDRESS || undefined,
      studyCustody: env.STUDY_CUSTODY_ADDRESS || undefined,
    },
    api: {
      host: env.API_HOST,
      port: apiPort,
      siweDomain: env.SIWE_DOMAIN ?? `localhost:${apiPort}`,
      siweUri: env.SIWE_URI ?? `http://localhost:${apiPort}`,
      introspection: env.API_INTROSPECTION || undefined,
      nonceTtlSeconds: env.NONCE_TTL_SECONDS,
      sessionTtlSeconds: env.SESSION_TTL_SECONDS,
      adminAddresses: env.ADMIN_ADDRESSES ? env.ADMIN_ADDRESSES.split(',').map((a) => a.trim()) : undefined,
      maxRequestBytes: env.API_MAX_REQUEST_BYTES,
      maxQueryDepth: env.API_MAX_QUERY_DEPTH,
      maxQueryComplexity: env.API_MAX_QUERY_COMPLEXITY,
      newAccountSignInsPerHour: env.API_NEW_ACCOUNT_SIGN_INS_PER_HOUR,
      roMaxUnpostedStudies: env.API_RO_MAX_UNPOSTED_STUDIES,
      roPayloadQuotaBytes: env.API_RO_PAYLOAD_QUOTA_BYTES,
      maxUploadBytes: env.API_MAX_UPLOAD_BYTES,
      maxRootFields: env.API_MAX_ROOT_FIELDS,
      maxTokens: env.API_MAX_TOKENS,
      maxFeedsPerAccount: env.API_MAX_FEEDS_PER_ACCOUNT,
      cursorSecret: env.API_CURSOR_SECRET || undefined,
      cursorMaxAgeSeconds: env.API_CURSOR_MAX_AGE_SECONDS,
      rateLimitBurst: env.RATE_LIMIT_BURST,
      rateLimitPerSecond: env.RATE_LIMIT_PER_SECOND,
      publicRateLimitBurst: env.PUBLIC_RATE_LIMIT_BURST,
      publicRateLimitPerSecond: env.PUBLIC_RATE_LIMIT_PER_SECOND,
      rateLimitClientKey: env.RATE_LIMIT_CLIENT_KEY || undefined,
      addressInFlight: env.API_ADDRESS_IN_FLIGHT,
      addressBurst: env.API_ADDRESS_BURST,
      addressPerSecond: env.API_ADDRESS_PER_SECOND,
      tokenInFlight: env.API_TOKEN_IN_FLIGHT,
      tokenBurst: env.API_TOKEN_BURST,
      tokenPerSecond: env.API_TOKEN_PER_SECOND,
      limiterMaxLanes: env.API_LIMITER_MAX_LANES,
      trustProxy: env.API_TRUST_PROXY,
      pruneIntervalMs: env.PRUNE_INTERVAL_MS,
      pruneBatchSize: env.PRUNE_BATCH_SIZE,
      feedPollMs: env.API_FEED_POLL_MS,
      studyIdIssuerPrivateKey: env.STUDY_ID_ISSUER_PRIVATE_KEY || undefined,
      authCacheMs: env.API_AUTH_CACHE_MS,
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
      auditIntervalMs: env.ACCESS_LOG_AUDIT_INTERVAL_MS,
      credentialWarnDays: env.CREDENTIAL_WARN_DAYS ? env.CREDENTIAL_WARN_DAYS.split(',').map((d) => d.trim()) : undefined,
      credentialWatchMs: env.CREDENTIAL_WATCH_MS,
      healthHost: env.SETTLER_HEALTH_HOST,
      healthPort: env.SETTLER_HEALTH_PORT,
    },
    governance: { relayerPrivateKey: env.GOVERNANCE_RELAYER_PRIVATE_KEY || undefined },
    relay: {
      privateKey: env.RELAYER_PRIVATE_KEY || undefined,
      spendLimitWei: env.RELAY_SPEND_LIMIT_WEI,
      replaceAfterMs: env.RELAY_REPLACE_AFTER_MS,
      pollMs: env.RELAY_POLL_MS,
      retentionHours: env.RELAY_RETENTION_HOURS,
      requestTtlSeconds: env.RELAY_REQUEST_TTL_SECONDS,
      feePercentile: env.RELAY_FEE_PERCENTILE,
      maxPriorityFeeWei: env.RELAY_MAX_PRIORITY_FEE_WEI,
    },
    treasury: { relayerPrivateKey: env.TREASURY_RELAYER_PRIVATE_KEY || undefined, ownersCacheMs: env.TREASURY_OWNERS_CACHE_MS },
    dicom: { dicomwebUrl: env.DICOMWEB_URL || undefined, dicomwebAuthorization: env.DICOMWEB_AUTHORIZATION || undefined },
    storage: {
      blobStore: env.BLOB_STORE || undefined,
      fsRoot: env.BLOB_FS_ROOT || undefined,
      s3Endpoint: env.BLOB_S3_ENDPOINT || undefined,
      s3Region: env.BLOB_S3_REGION || undefined,
      s3Bucket: env.BLOB_S3_BUCKET || undefined,
      s3Prefix: env.BLOB_S3_PREFIX,
      s3AccessKeyId: env.BLOB_S3_ACCESS_KEY_ID || undefined,
      s3SecretAccessKey: env.BLOB_S3_ACCESS_SECRET || undefined,
      s3ForcePathStyle: env.BLOB_S3_FORCE_PATH_STYLE || undefined,
      deadlineMs: env.BLOB_STORE_DEADLINE_MS,
      uploadDir: env.UPLOAD_DIR || undefined,
      maxChunkBytes: env.UPLOAD_MAX_CHUNK_BYTES,
      maxManifestBytes: env.UPLOAD_MAX_MANIFEST_BYTES,
      downloadDeadlineMs: env.DOWNLOAD_DEADLINE_MS,
    },
    roAgent: {
      keyFile: env.RO_AGENT_KEY_FILE || undefined,
      holdingsDir: env.RO_AGENT_HOLDINGS_DIR || undefined,
      ro: env.RO_AGENT_RO || undefined,
      signerKeyId: env.RO_AGENT_SIGNER_KEY_ID || undefined,
      policy: env.RO_AGENT_POLICY || undefined,
      pollMs: env.RO_AGENT_POLL_MS,
      host: env.RO_AGENT_HOST,
      port: env.RO_AGENT_PORT,
    },
    bus: {
      natsUrl: env.NATS_URL || undefined,
      namespace: env.NATS_NAMESPACE,
      ackTimeoutMs: env.BUS_ACK_TIMEOUT_MS,
      settlerHost: env.SETTLER_BUS_HOST,
      settlerPort: env.SETTLER_BUS_PORT,
    },
  };
}

/**
 * The blob store's settings that only make sense together (the schema checks each alone). Each problem is told on
 * the setting that is set, so the message names the variable given and the one missing.
 */
function storageProblems(s: AppConfig['storage']): Problem[] {
  const problems: Problem[] = [];
  if (s.blobStore === 's3' && !s.s3Bucket)
    problems.push({ path: ['storage', 'blobStore'], message: 'needs BLOB_S3_BUCKET, the bucket that holds the chunks' });
  if (s.s3AccessKeyId !== undefined && s.s3SecretAccessKey === undefined)
    problems.push({
      path: ['storage', 's3AccessKeyId'],
      message: 'is set but BLOB_S3_ACCESS_SECRET is not: set both halves of the S3 credentials, or neither',
    });
  if (s.s3AccessKeyId === undefined && s.s3SecretAccessKey !== undefined)
    problems.push({
      path: ['storage', 's3SecretAccessKey'],
      message: 'is set but BLOB_S3_ACCESS_KEY_ID is not: set both halves of the S3 credentials, or neither',
    });
  return problems;
}
