import { INestApplication, INestApplicationContext, INestMicroservice, type LogLevel, type LoggerService } from '@nestjs/common';
import { mined, loadArtifact, createProvider, issuanceArgs, issueStudyId } from '#chain';
import {
  DEV_ROLES,
  devKey,
  AnvilHandle,
  freePort,
  startAnvil,
  Deployment,
  GovernanceDeployment,
  GovernanceOptions,
  OpenReadContracts,
  contracts,
  deployDevChain,
  deployGovernance,
  deployOpenRead,
  increaseTime,
  createSafe,
  deploySafeInfrastructure,
} from '#devchain';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { Contract, HDNodeWallet, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { createApiApp } from '#api';
import { IndexerModule } from '#indexer';
import { SettlerModule } from '#settler';
import { busServerOptions } from '#bus';
import { AppConfig, AppConfigInput, parseConfig } from '#config';
import { createTestDatabase } from '#db/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Dev account `i` connected to `provider`; name it by its role: `devWallet(DEV_ROLES.roDepositor, provider)`. */
export const devWallet = (i: number, provider: JsonRpcProvider) => devKey(i).connect(provider);

/** The market's study-ID issuer in tests, as in npm start (the API holds its key). */
export const STUDY_ID_ISSUER = DEV_ROLES.studyIdIssuer;
const TEN_YEARS = 10 * 365 * 86400;

/**
 * postStudy's last two arguments (issuedUntil, issuance) for a direct call: `studyId` issued by the dev issuer to
 * `ro` on `deployment`'s market, valid for ten years (tests move chain time), via libs/chain issueStudyId.
 */
export function issuedFor(
  deployment: Pick<Deployment, 'market' | 'chainId'>,
  ro: string,
  studyId: string,
  issuedUntil?: bigint,
): [bigint, string] {
  const key = devKey(STUDY_ID_ISSUER).privateKey;
  return issuanceArgs(
    issueStudyId(key, deployment.market, deployment.chainId, ro, studyId, issuedUntil ?? BigInt(Math.floor(Date.now() / 1000) + TEN_YEARS)),
  );
}

export interface Stack {
  config: AppConfig;
  anvil: AnvilHandle;
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** contracts connected to the deployer (owner, verifier) */
  owner: OpenReadContracts;
  api: INestApplication;
  indexer: INestApplicationContext;
  settler: INestMicroservice;
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  /** the DAO, when startStack was asked for it */
  governance?: GovernanceDeployment;
  /** the market's study-ID issuer (DEV_ROLES.studyIdIssuer; its key is the API's STUDY_ID_ISSUER_PRIVATE_KEY) */
  issuer: HDNodeWallet;
  /** postStudy's (issuedUntil, issuance) for `studyId` issued to `ro` (see issuedFor) */
  issued(ro: string, studyId: string, issuedUntil?: bigint): [bigint, string];
  stop(): Promise<void>;
}

/**
 * The whole stack for an end-to-end test: a fresh anvil with the contracts deployed, a throwaway Postgres
 * database migrated, and the three apps running in this process (API over real HTTP on a free port, the
 * indexer polling the chain, the settler listening on the bus). Always all three: the settler is the worker that
 * sends every transaction the API queues (gasless, governance, treasury), so no test runs without it.
 */
export async function startStack(
  opts: {
    settlerPollMs?: number;
    anchorIntervalMs?: number;
    governance?: GovernanceOptions;
    api?: Partial<AppConfigInput['api']>;
    relay?: Partial<NonNullable<AppConfigInput['relay']>>;
    /** make the treasury a Safe of these dev accounts (else dev account #1 is the treasury) */
    treasurySafe?: { owners: number[]; threshold: number };
    indexer?: Partial<AppConfig['indexer']>;
    /**
     * deploy exactly as `npm start` does (deployDevChain: a 2-of-3 treasury Safe, the dev verifier and anchorer,
     * #2 funded, the DAO holding every admin power); `governance` and `treasurySafe` are then ignored
     */
    asNpmStart?: boolean;
    /** blob store and upload settings (default: a filesystem store and staged uploads in a temporary directory) */
    storage?: Partial<NonNullable<AppConfigInput['storage']>>;
  } = {},
): Promise<Stack> {
  const anvil = await startAnvil({ args: ['--accounts', '20'] });
  const provider = createProvider(anvil.rpcUrl);
  const deployer = new NonceManager(devWallet(DEV_ROLES.deployer, provider));
  // (the Safe from a plain wallet, before the NonceManager reads its starting nonce: deployOpenRead sets explicit nonces)
  const safeDeployer = devWallet(DEV_ROLES.deployer, provider);
  const issuer = devWallet(STUDY_ID_ISSUER, provider);
  let deployment: Deployment;
  let governance: GovernanceDeployment | undefined;
  if (opts.asNpmStart) {
    ({ deployment, governance } = await deployDevChain(provider, {
      studyIdIssuer: issuer.address,
      settler: devWallet(DEV_ROLES.settler, provider).address,
      votingDelay: 1,
      votingPeriod: 300,
      timelockDelay: 120,
    }));
  } else {
    const treasury = opts.treasurySafe
      ? await createSafe(
          safeDeployer,
          await deploySafeInfrastructure(safeDeployer),
          opts.treasurySafe.owners.map((i) => devWallet(i, provider).address),
          opts.treasurySafe.threshold,
        )
      : devWallet(DEV_ROLES.treasuryOwners[0], provider).address;
    deployment = await deployOpenRead(deployer, { treasury, studyIdIssuer: issuer.address });
    const c = contracts(deployment, deployer);
    await mined(c.registry.grantRole(await c.registry.VERIFIER_ROLE(), await deployer.getAddress()));
    const anchor = new Contract(deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, deployer);
    await mined(anchor.grantRole(await anchor.ANCHORER_ROLE(), devWallet(DEV_ROLES.settler, provider).address));
    if (opts.governance) governance = await deployGovernance(deployer, deployment, opts.governance);
  }
  if (governance) await increaseTime(provider, 1); // members' votes count from the next second
  const owner = contracts(deployment, deployer);
  const db = await createTestDatabase();
  const storageDir = mkdtempSync(join(tmpdir(), 'openread-storage-'));
  const config = parseConfig({
    // the apps connect as a login role granted openread_app (DML only), as in production; stack.db.url is the owner
    databaseUrl: db.appUrl,
    databaseMigrationUrl: db.url,
    rpcUrl: anvil.rpcUrl,
    chainId: deployment.chainId,
    // these suites check behaviour, not latency, on a machine that runs many of them at once: a burst of 100
    // requests waiting for row locks can take longer than the 2 s product deadline there (which would answer
    // DATABASE_UNAVAILABLE, retryable). test/dependency-faults.e2e.test.ts checks the default deadline.
    dependencyTimeoutMs: 10_000,
    contracts: {
      ...deployment,
      ...(governance && { governor: governance.governor, timelock: governance.timelock, membership: governance.membership }),
    },
    governance: { relayerPrivateKey: governance ? devWallet(DEV_ROLES.governanceRelayer, provider).privateKey : undefined },
    treasury: { relayerPrivateKey: devWallet(DEV_ROLES.treasuryRelayer, provider).privateKey },
    // dev account #0 (the deployer) is an ADMIN: it onboards ROs. Every test client calls from 127.0.0.1, so the
    // limit per client address (nonce, login, indexerStatus, sign-ins of role-less accounts) is generous unless a
    // test asks for less
    api: {
      port: 0,
      siweDomain: 'openread.test',
      siweUri: 'https://openread.test',
      adminAddresses: [devWallet(DEV_ROLES.deployer, provider).address],
      publicRateLimitBurst: 100_000,
      publicRateLimitPerSecond: 1000,
      newAccountSignInsPerHour: 100_000,
      // the same for the in-memory limits per address and per token (test/preauth-limits.e2e.test.ts sets its own)
      addressInFlight: 10_000,
      addressBurst: 100_000,
      addressPerSecond: 10_000,
      tokenInFlight: 10_000,
      tokenBurst: 100_000,
      tokenPerSecond: 10_000,
      studyIdIssuerPrivateKey: issuer.privateKey,
      ...opts.api,
    },
    indexer: { confirmations: 0, pollMs: 100, healthPort: 0, ...opts.indexer },
    settler: {
      privateKey: devWallet(DEV_ROLES.settler, provider).privateKey,
      pollMs: opts.settlerPollMs ?? 200,
      anchorIntervalMs: opts.anchorIntervalMs ?? 60_000,
    },
    bus: { settlerPort: await freePort() },
    // dev account #19 pays the gas of gasless requests
    relay: { privateKey: devWallet(DEV_ROLES.relayer, provider).privateKey, pollMs: 50, ...opts.relay },
    storage: { fsRoot: join(storageDir, 'blobs'), uploadDir: join(storageDir, 'uploads'), ...opts.storage },
  });
  const settler = await startSettler(config);
  const indexer = await NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger: ['error', 'warn'] });
  await indexer.init();
  const api = await createApiApp(config);
  await api.init();
  await api.listen(0, '127.0.0.1');
  const stack: Stack = {
    config,
    anvil,
    provider,
    deployment,
    owner,
    api,
    indexer,
    settler,
    db,
    governance,
    issuer,
    issued: (ro, studyId, issuedUntil) => issuedFor(deployment, ro, studyId, issuedUntil),
    async stop() {
      await stack.api.close(); // a test may have restarted the API
      await stack.indexer.close(); // or the indexer
      await stack.settler.close(); // or the worker (the transaction sender)
      provider.destroy();
      await anvil.stop();
      await db.drop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** The worker app (settler: the transaction sender, timers, pruning) on `config`'s bus port, as startStack starts it. */
export async function startSettler(config: AppConfig, logger: LoggerService | LogLevel[] = ['error', 'warn']): Promise<INestMicroservice> {
  const settler = await NestFactory.createMicroservice<MicroserviceOptions>(SettlerModule.forRoot(config), {
    ...busServerOptions(config, 'settler'),
    logger,
  });
  await settler.listen();
  return settler;
}

/** The API's GraphQL URL over real HTTP (for scripts/lib's ApiClient, as a script or an app would call it). */
export function apiUrl(stack: Pick<Stack, 'api'>): string {
  const address = stack.api.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${address.port}/graphql`;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type { Wallet };
