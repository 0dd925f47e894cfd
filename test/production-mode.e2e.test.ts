import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Contract, ContractFactory, getAddress, type JsonRpcProvider, NonceManager } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvider, loadArtifact, mined } from '#chain';
import { WELL_KNOWN_DEV_ADDRESSES } from '#config';
import { type AnvilHandle, DEV_ACCOUNTS, DEV_ROLES, type Deployment, deployOpenRead, devKey, freePort, startAnvil } from '#devchain';
import { createTestDatabase } from '#db/testing';
import { deployForTests } from './support/deploy.js';
import { productionEnv } from './support/production.js';
import { waitFor } from './support/stack.js';

const ROOT = join(import.meta.dirname, '..');
const APPS = ['api', 'indexer', 'settler'] as const;
type App = (typeof APPS)[number];

interface Running {
  child: ChildProcess;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A compiled app (`npm run build`), in its own process with only `env`. */
function run(app: App, env: NodeJS.ProcessEnv): Running {
  const main = join(ROOT, 'dist', 'apps', app, 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build`);
  const child = spawn(process.execPath, [main], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exit };
}

describe('production mode (NODE_ENV=production)', () => {
  let anvil: AnvilHandle;
  let provider: JsonRpcProvider;
  let deployment: Deployment;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    // a chain ID that is not a local one: production mode needs no exception for it
    anvil = await startAnvil({ chainId: 84532, args: ['--accounts', '20'] });
    provider = createProvider(anvil.rpcUrl);
    ({ deployment } = await deployForTests(provider));
    db = await createTestDatabase();
  }, 120_000);

  afterAll(async () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await db?.drop();
    provider?.destroy();
    await anvil?.stop();
  });

  const baseEnv = async (): Promise<Record<string, string>> => ({
    DATABASE_URL: db.url,
    RPC_URL: anvil.rpcUrl,
    CHAIN_ID: '84532',
    TOKEN_ADDRESS: deployment.token,
    PARAMETERS_ADDRESS: deployment.parameters,
    REGISTRY_ADDRESS: deployment.registry,
    MARKET_ADDRESS: deployment.market,
    DEPLOY_BLOCK: String(deployment.deployBlock),
    API_PORT: String(await freePort()),
    INDEXER_HEALTH_PORT: String(await freePort()),
    SETTLER_HEALTH_PORT: String(await freePort()),
    SETTLER_BUS_PORT: String(await freePort()),
    NATS_URL: '',
  });

  it("lists every well-known dev account of #devchain (anvil's mnemonic) as refused", () => {
    const indexes = new Set<number>([...DEV_ACCOUNTS.map((a) => a.index), ...Object.values(DEV_ROLES).flat(), ...Array(30).keys()]);
    for (const i of indexes) expect(WELL_KNOWN_DEV_ADDRESSES.has(devKey(i).address.toLowerCase()), `dev account ${i}`).toBe(true);
    expect(WELL_KNOWN_DEV_ADDRESSES.size).toBe(30);
  });

  it('every app refuses to start with dev defaults: exit 2, each variable named with its value and what is expected', async () => {
    const base = await baseEnv();
    const env = {
      ...base,
      ...productionEnv(),
      SIWE_DOMAIN: 'localhost:4000',
      SIWE_URI: undefined,
      INDEXER_CONFIRMATIONS: '0',
      CHAIN_ID: '31337',
      RATE_LIMIT_CLIENT_KEY: undefined,
      API_CURSOR_SECRET: undefined,
      SETTLER_PRIVATE_KEY: devKey(DEV_ROLES.settler).privateKey,
      RELAYER_PRIVATE_KEY: devKey(DEV_ROLES.relayer).privateKey,
      GOVERNANCE_RELAYER_PRIVATE_KEY: devKey(DEV_ROLES.governanceRelayer).privateKey,
      TREASURY_RELAYER_PRIVATE_KEY: devKey(DEV_ROLES.treasuryRelayer).privateKey,
      STUDY_ID_ISSUER_PRIVATE_KEY: devKey(DEV_ROLES.studyIdIssuer).privateKey,
    };
    const runs = APPS.map((app) => ({ app, r: run(app, env) }));
    started.push(...runs.map(({ r }) => r.child));
    for (const { app, r } of runs) {
      expect(await r.exit, `${app}:\n${r.output()}`).toEqual({ code: 2, signal: null });
      const out = r.output();
      expect(out).toContain(`[${app}] invalid configuration:`);
      expect(out).toContain(
        'SIWE_DOMAIN="localhost:4000": is a local address: in production (NODE_ENV=production) set the public host[:port]',
      );
      expect(out).toMatch(/SIWE_URI is not set, so it is "http:\/\/localhost:\d+", which is a local address/);
      expect(out).toContain('INDEXER_CONFIRMATIONS="0": must be at least 12 in production');
      expect(out).toContain('CHAIN_ID="31337": is a local dev chain');
      expect(out).toContain('RATE_LIMIT_CLIENT_KEY is not set: it is required in production');
      expect(out).toContain('API_CURSOR_SECRET is not set: it is required in production');
      for (const name of [
        'SETTLER_PRIVATE_KEY',
        'RELAYER_PRIVATE_KEY',
        'GOVERNANCE_RELAYER_PRIVATE_KEY',
        'TREASURY_RELAYER_PRIVATE_KEY',
        'STUDY_ID_ISSUER_PRIVATE_KEY',
      ])
        expect(out).toContain(`${name}=(the value given, not shown: a secret): is a well-known dev key`);
      // no key is echoed, and the refusal is a message, not a crash
      expect(out).not.toContain(devKey(DEV_ROLES.settler).privateKey.slice(2));
      expect(out).not.toMatch(/\n\s+at /);
    }
    // one refusal alone is enough to stop each app
    const one = APPS.map((app) => ({ app, r: run(app, { ...base, ...productionEnv(), INDEXER_CONFIRMATIONS: '11' }) }));
    started.push(...one.map(({ r }) => r.child));
    for (const { app, r } of one) {
      expect(await r.exit, app).toEqual({ code: 2, signal: null });
      expect(r.output()).toContain('INDEXER_CONFIRMATIONS="11": must be at least 12 in production');
    }
  }, 120_000);

  it('a production configuration starts the API (introspection off), the indexer and the worker; each stops cleanly', async () => {
    const env = { ...(await baseEnv()), ...productionEnv() };
    const runs = Object.fromEntries(APPS.map((app) => [app, run(app, env)])) as Record<App, Running>;
    started.push(...Object.values(runs).map((r) => r.child));
    const healthy = (app: App, port: string) =>
      waitFor(
        `the ${app} to answer /health`,
        async () => {
          if (runs[app].child.exitCode !== null) throw new Error(`${app} exited ${runs[app].child.exitCode}:\n${runs[app].output()}`);
          return fetch(`http://127.0.0.1:${port}/health`).then(
            (r) => r.ok,
            () => false,
          );
        },
        90_000,
      );
    await Promise.all([
      healthy('api', env.API_PORT),
      healthy('indexer', env.INDEXER_HEALTH_PORT),
      healthy('settler', env.SETTLER_HEALTH_PORT),
    ]);

    const graphql = async (query: string) =>
      (await (
        await fetch(`http://127.0.0.1:${env.API_PORT}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query }),
        })
      ).json()) as { data?: unknown; errors?: { message: string; extensions: { code: string } }[] };
    expect(await graphql('{ __typename }')).toEqual({ data: { __typename: 'Query' } });
    const schema = await graphql('{ __schema { queryType { name } } }');
    expect(schema.data).toBeUndefined();
    expect(schema.errors?.[0].extensions.code).toBe('BAD_INPUT');
    expect(schema.errors?.[0].message).toMatch(/introspection/i);

    for (const app of APPS) runs[app].child.kill('SIGTERM');
    for (const app of APPS) expect(await runs[app].exit, `${app}:\n${runs[app].output().slice(-2000)}`).toEqual({ code: 0, signal: null });
    // production logs are JSON lines
    expect(() =>
      JSON.parse(
        runs.api
          .output()
          .split('\n')
          .find((l) => l.includes('GraphQL API'))!,
      ),
    ).not.toThrow();
  }, 150_000);

  it('deploys OpenRead on an existing ERC-20: the market and custody pay in it, and no TestUSD is deployed', async () => {
    // "a stablecoin already on the chain": an ERC-20 deployed beforehand by someone else
    const issuer = devKey(DEV_ROLES.spare[0]).connect(provider);
    const { abi, bytecode } = loadArtifact('TestUSD');
    const existing = await new ContractFactory(abi, bytecode, issuer).deploy(issuer.address);
    await existing.waitForDeployment();
    const token = getAddress(await existing.getAddress());
    const tokenCode = await provider.getCode(token);

    const deployer = new NonceManager(devKey(DEV_ROLES.spare[1]).connect(provider));
    const treasury = devKey(DEV_ROLES.spare[2]).address;
    const d = await deployOpenRead(deployer, { treasury, studyIdIssuer: devKey(DEV_ROLES.studyIdIssuer).address, token });
    expect(d.token).toBe(token);
    const market = new Contract(d.market, loadArtifact('StudyMarket').abi, provider);
    const custody = new Contract(d.studyCustody, loadArtifact('StudyCustody').abi, provider);
    expect(getAddress(await market.token())).toBe(token);
    expect(getAddress(await custody.token())).toBe(token);

    // every contract created from the deployment's first block on: none carries TestUSD's code
    const created: string[] = [];
    for (let b = d.deployBlock; b <= (await provider.getBlockNumber()); b++)
      for (const hash of (await provider.getBlock(b))!.transactions) {
        const receipt = (await provider.getTransactionReceipt(hash))!;
        if (receipt.contractAddress) created.push(receipt.contractAddress);
      }
    expect(created.map(getAddress).sort()).toEqual(
      [
        d.parameters,
        d.registry,
        d.forwarder,
        d.market,
        d.accessLogAnchor,
        d.roDirectory,
        d.studyCustody,
        d.storageHolders,
        d.patientLinks,
        d.researchPools,
      ]
        .map((a) => getAddress(a))
        .sort(),
    );
    for (const a of created) expect(await provider.getCode(a)).not.toBe(tokenCode);

    // the market takes deposits in it
    const ro = devKey(DEV_ROLES.spare[3]).connect(provider);
    await mined((existing.connect(issuer) as Contract).mint(ro.address, 5_000_000n));
    await mined((existing.connect(ro) as Contract).approve(d.market, 5_000_000n));
    await mined((market.connect(ro) as Contract).deposit(5_000_000n));
    expect(await market.balanceOf(ro.address)).toBe(5_000_000n);
    expect(await (existing.connect(provider) as Contract).balanceOf(d.market)).toBe(5_000_000n);

    // an address that is not an ERC-20 is refused before anything is deployed
    const nonce = await provider.getTransactionCount(await deployer.getAddress());
    await expect(deployOpenRead(deployer, { treasury, studyIdIssuer: treasury, token: treasury })).rejects.toThrow(
      /no contract at the token address/,
    );
    await expect(deployOpenRead(deployer, { treasury, studyIdIssuer: treasury, token: d.registry })).rejects.toThrow(
      /does not answer ERC-20 totalSupply\/balanceOf\/decimals/,
    );
    expect(await provider.getTransactionCount(await deployer.getAddress())).toBe(nonce);
  }, 120_000);
});
