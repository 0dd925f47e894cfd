import { mined, createProvider, loadArtifact } from '#chain';
import { AnvilHandle, DEV_ROLES, increaseTime, startAnvil, Deployment, OpenReadContracts, contracts } from '#devchain';
import { Contract, JsonRpcProvider, NonceManager, dataSlice, getAddress, hexlify, keccak256, toUtf8Bytes } from 'ethers';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { IndexerPipeline, StepResult } from '#indexer';
import { AppConfig, parseConfig } from '#config';
import { EventStore } from '#indexer-store';
import { createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { seededRandom } from '#domain';
import { devWallet, issuedFor, waitFor } from './stack.js';
import { deployForTests } from './deploy.js';

export const USD = 1_000_000n;
/** The dev accounts that post studies and read them in a generated history (account numbers, from DEV_ROLES). */
export const ROS = [DEV_ROLES.roDepositor, DEV_ROLES.spare[0], DEV_ROLES.spare[1]];
export const RADIOLOGISTS = [...DEV_ROLES.radiologists, DEV_ROLES.spare[2], DEV_ROLES.spare[3]];
/** Addresses a generated history grants roles to: nobody signs for them, so they need no key. */
const GRANTEES = ['a', 'b', 'c'].map((name) => getAddress(dataSlice(keccak256(toUtf8Bytes(`grantee-${name}`)), 12)));

export interface Chain {
  anvil: AnvilHandle;
  provider: JsonRpcProvider;
  deployment: Deployment;
  owner: OpenReadContracts;
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  head(): Promise<number>;
  stop(): Promise<void>;
}

/** anvil with the contracts deployed, the deployer a verifier, ROs funded and approved. */
export async function startChain(args: string[] = []): Promise<Chain> {
  const anvil = await startAnvil({ args: ['--accounts', '20', ...args] });
  const provider = createProvider(anvil.rpcUrl);
  const { deployer, deployment } = await deployForTests(provider);
  const owner = contracts(deployment, deployer);
  await mined(owner.registry.grantRole(await owner.registry.VERIFIER_ROLE(), await deployer.getAddress()));
  for (const i of ROS) {
    const ro = devWallet(i, provider);
    await mined(owner.token.mint(ro.address, 1_000_000n * USD));
    await mined((owner.token.connect(ro) as Contract).approve(deployment.market, 2n ** 255n));
  }
  const rpc = (method: string, params: unknown[] = []) => provider.send(method, params);
  return {
    anvil,
    provider,
    deployment,
    owner,
    rpc,
    head: async () => Number(await rpc('eth_blockNumber')),
    async stop() {
      provider.destroy();
      await anvil.stop();
    },
  };
}

export function indexerConfig(
  chain: Chain,
  databaseUrl: string,
  indexer: Partial<AppConfig['indexer']> = {},
  rpcUrl = chain.anvil.rpcUrl,
): AppConfig {
  return parseConfig({
    databaseUrl,
    rpcUrl,
    chainId: chain.deployment.chainId,
    contracts: { ...chain.deployment },
    api: { port: 0, siweDomain: 'openread.test', siweUri: 'https://openread.test' },
    indexer: { confirmations: 0, finalityDepth: 100, pollMs: 50, batchBlocks: 50, healthPort: 0, rpcTimeoutMs: 2_000, ...indexer },
    settler: {},
    bus: { settlerPort: 1 },
  });
}

/**
 * Random market activity: every action is checked with a static call first, so each sent transaction succeeds
 * and emits events (posts, claims, reports, disputes, settlements, cancellations, deposits, withdrawals,
 * credential attestations and revocations, parameter updates, lease expiries).
 */
export class Activity {
  private readonly rnd;
  private readonly studies: string[] = [];
  private signers = new Map<number, NonceManager>();

  constructor(
    private readonly chain: Chain,
    seed: number,
    /**
     * also dispute resolutions and verifier-role grants/revocations; with `exchange`, the imaging exchange too: ROs
     * admitted, keys rotated, studies registered and transferred, leases requested, granted, denied, renewed and
     * cancelled, expired uses and misuse reports, exchange deposits and withdrawals (opt-in: the other tests keep
     * their seeded sequences)
     */
    private readonly opts: { governanceAndRoles?: boolean; exchange?: boolean } = {},
  ) {
    this.rnd = seededRandom(seed);
  }

  private signer(i: number): NonceManager {
    let s = this.signers.get(i);
    if (!s) this.signers.set(i, (s = new NonceManager(devWallet(i, this.chain.provider))));
    return s;
  }

  /** After a rollback the nonces on chain went back: forget the cached ones. */
  reset() {
    this.signers = new Map();
  }

  private market(i: number) {
    return this.chain.owner.market.connect(this.signer(i)) as Contract;
  }

  private directory(i: number) {
    return new Contract(this.chain.deployment.roDirectory, loadArtifact('RoDirectory').abi, this.signer(i));
  }

  private custody(i: number) {
    return new Contract(this.chain.deployment.studyCustody, loadArtifact('StudyCustody').abi, this.signer(i));
  }

  private exchangeReady = false;
  private readonly registered: string[] = [];

  /** Once: the admission role to the deployer, every RO admitted with a key, approved and funded in the exchange. */
  private async setUpExchange(): Promise<void> {
    if (this.exchangeReady) return;
    const admin = this.directory(DEV_ROLES.deployer);
    await mined(admin.grantRole(await admin.ADMISSION_ROLE(), await this.signer(DEV_ROLES.deployer).getAddress()));
    for (const i of ROS) {
      const ro = devWallet(i, this.chain.provider).address;
      await mined(admin.admitRo(ro, keccak256(toUtf8Bytes(`enc-${i}-0`)), ro));
      await mined((this.chain.owner.token.connect(this.signer(i)) as Contract).approve(this.chain.deployment.studyCustody, 2n ** 255n));
      await mined(this.custody(i).deposit(1_000n * USD));
    }
    this.exchangeReady = true;
  }

  /** The lowest live key of RO `i`, read from the chain (a reorg may have undone a rotation the activity made). */
  private async liveKey(i: number): Promise<bigint | null> {
    const d = this.directory(i);
    const ro = devWallet(i, this.chain.provider).address;
    for (let k = 1n; ; k++) {
      const key = await d.keyOf(k);
      if (key.ro === '0x0000000000000000000000000000000000000000') return null;
      if (await d.isLiveKeyOf(k, ro)) return k;
    }
  }

  /**
   * A lease in `status` (StudyCustody.LeaseStatus: 1 requested, 2 granted), looked for from a random one on, with its
   * custodian and requester as RO indexes (null if none).
   */
  private async someLease(status: 1 | 2): Promise<{ id: bigint; custodian: number; requester: number } | null> {
    const c = this.custody(DEV_ROLES.deployer);
    const last = Number(await c.lastLeaseId());
    const start = last ? this.rnd.int(1, last) : 0;
    const index = (a: string) => ROS.find((i) => devWallet(i, this.chain.provider).address === a);
    for (let n = 0; n < last; n++) {
      const id = BigInt(((start - 1 + n) % last) + 1);
      const lease = await c.leaseOf(id);
      if (Number(lease.status) !== status) continue;
      const [custodian, requester] = [index((await c.custodyOf(lease.studyId)).ro), index(lease.requester)];
      if (custodian !== undefined && requester !== undefined) return { id, custodian, requester };
    }
    return null;
  }

  /** One exchange action (a static call first, as every action): true if it was sent. */
  private async exchangeAction(action: string, ro: number): Promise<boolean> {
    await this.setUpExchange();
    const r = this.rnd;
    const other = r.pick(ROS.filter((i) => i !== ro));
    const address = (i: number) => devWallet(i, this.chain.provider).address;
    const study = this.registered.length ? r.pick(this.registered) : null;
    switch (action) {
      case 'xregister': {
        const id = hexlify(keccak256(toUtf8Bytes(`custody-${r.int(0, 2 ** 31)}-${this.registered.length}`)));
        const ok = await this.send(this.custody(ro), 'registerStudy', [
          id,
          keccak256(toUtf8Bytes(`manifest-${id}`)),
          ...issuedFor(this.chain.deployment, address(ro), id),
        ]);
        if (ok) this.registered.push(id);
        return ok;
      }
      case 'xrequest': {
        const key = await this.liveKey(ro);
        return study !== null && key !== null && this.send(this.custody(ro), 'requestLease', [study, r.int(300, 7200), key, r.int(0, 2)]);
      }
      case 'xgrant':
      case 'xdeny':
      case 'xrenew':
      case 'xexpired':
      case 'xmisuse': {
        const lease = await this.someLease(action === 'xgrant' || action === 'xdeny' ? 1 : 2);
        if (!lease) return false;
        const c = this.custody(lease.custodian);
        if (action === 'xgrant')
          return this.send(c, 'grantLease', [
            lease.id,
            keccak256(toUtf8Bytes(`wrapped-${lease.id}`)),
            keccak256(toUtf8Bytes(`ct-${lease.id}`)),
          ]);
        if (action === 'xdeny') return this.send(c, 'denyLease', [lease.id]);
        if (action === 'xrenew') return this.send(c, 'renewLease', [lease.id]);
        return this.send(c, action === 'xexpired' ? 'recordExpiredUse' : 'reportMisuse', [lease.id, address(lease.requester)]);
      }
      case 'xcancel': {
        const lease = await this.someLease(1);
        return lease !== null && this.send(this.custody(lease.requester), 'cancelLeaseRequest', [lease.id]);
      }
      case 'xtransfer':
        return study !== null && this.send(this.custody(ro), 'transferCustody', [study, address(other)]);
      case 'xrotate': {
        const key = await this.liveKey(ro);
        const enc = keccak256(toUtf8Bytes(`enc-${ro}-${r.int(1, 2 ** 31)}`));
        return key !== null && this.send(this.directory(ro), 'rotateKey', [key, enc, address(ro)]);
      }
      case 'xdeposit':
        return this.send(this.custody(ro), 'deposit', [BigInt(r.int(10, 500)) * USD]);
      case 'xwithdraw':
        return this.send(this.custody(ro), 'withdraw', [BigInt(r.int(1, 50)) * USD]);
      case 'xweek': // past the request timeout, so requests can be cancelled
        if (r.int(0, 3) !== 0) return false;
        await increaseTime(this.chain.provider, 8 * 86400);
        return true;
    }
    return false;
  }

  private async send(c: Contract, fn: string, args: unknown[]): Promise<boolean> {
    try {
      await c[fn].staticCall(...args);
    } catch {
      return false;
    }
    await mined(c[fn](...args));
    return true;
  }

  /** `n` successful actions (each one block under automine). */
  async run(n: number): Promise<number> {
    const r = this.rnd;
    const { owner } = this.chain;
    let done = 0;
    for (let tries = 0; done < n && tries < n * 20; tries++) {
      const action = r.pick([
        'post',
        'post',
        'post',
        'claim',
        'claim',
        'report',
        'settle',
        'deposit',
        'withdraw',
        'attest',
        'attest',
        'revoke',
        'param',
        'dispute',
        'cancel',
        'time',
        'release',
        ...(this.opts.governanceAndRoles ? ['resolve', 'role'] : []),
        ...(this.opts.exchange ? EXCHANGE_ACTIONS : []),
      ]);
      const ro = r.pick(ROS);
      const rad = r.pick(RADIOLOGISTS);
      const study = this.studies.length ? r.pick(this.studies) : null;
      let ok = false;
      if (action.startsWith('x')) ok = await this.exchangeAction(action, ro);
      switch (action) {
        case 'post': {
          const id = hexlify(keccak256(toUtf8Bytes(`study-${r.int(0, 2 ** 31)}-${this.studies.length}`)));
          ok = await this.send(this.market(ro), 'postStudy', [
            id,
            r.int(0, 6),
            r.int(5_000, 30_000),
            r.int(0, 2),
            r.int(0, 3),
            BigInt(r.int(10, 500)) * USD,
            ...issuedFor(this.chain.deployment, devWallet(ro, this.chain.provider).address, id),
          ]);
          if (ok) this.studies.push(id);
          break;
        }
        case 'deposit':
          ok = await this.send(this.market(ro), 'deposit', [BigInt(r.int(100, 5_000)) * USD]);
          break;
        case 'withdraw':
          ok = await this.send(this.market(ro), 'withdraw', [BigInt(r.int(1, 50)) * USD]);
          break;
        case 'attest': {
          const expiry = BigInt((await this.chain.provider.getBlock('latest'))!.timestamp + 400 * 86400);
          // states 0..3 (the ones posts use), all modalities
          ok = await this.send(owner.registry.connect(this.signer(DEV_ROLES.deployer)) as Contract, 'attest', [
            devWallet(rad, this.chain.provider).address,
            0b1111n,
            0b1111111n,
            expiry,
          ]);
          break;
        }
        case 'revoke':
          if (r.int(0, 3) === 0)
            ok = await this.send(owner.registry.connect(this.signer(DEV_ROLES.deployer)) as Contract, 'revoke', [
              devWallet(rad, this.chain.provider).address,
            ]);
          break;
        case 'param':
          ok = await this.send(owner.parameters.connect(this.signer(DEV_ROLES.deployer)) as Contract, 'setBaseBounty', [
            r.int(0, 6),
            BigInt(r.int(10, 100)) * USD,
          ]);
          break;
        case 'claim':
          if (study) ok = await this.send(this.market(rad), 'claim', [study]);
          break;
        case 'report':
          if (study) {
            const s = await owner.market.getStudy(study);
            const who = RADIOLOGISTS.find((i) => devWallet(i, this.chain.provider).address === s.radiologist);
            if (who !== undefined)
              ok = await this.send(this.market(who), 'submitReport', [study, keccak256(toUtf8Bytes(`report-${study}`))]);
          }
          break;
        case 'dispute':
        case 'cancel':
          if (study) {
            const s = await owner.market.getStudy(study);
            const who = ROS.find((i) => devWallet(i, this.chain.provider).address === s.ro);
            if (who !== undefined) ok = await this.send(this.market(who), action === 'dispute' ? 'dispute' : 'cancelStudy', [study]);
          }
          break;
        case 'resolve': // the owner (arbiter) splits a disputed study: DisputeResolved
          if (study) {
            const s = await owner.market.getStudy(study);
            ok = await this.send(owner.market.connect(this.signer(DEV_ROLES.deployer)) as Contract, 'resolveDispute', [
              study,
              (BigInt(s.lockedBounty) * BigInt(r.int(0, 100))) / 100n,
            ]);
          }
          break;
        case 'role': {
          // verifier roles granted and revoked (RoleGranted / RoleRevoked → contract_roles); accounts that never attest
          const registry = owner.registry.connect(this.signer(DEV_ROLES.deployer)) as Contract;
          const who = r.pick(GRANTEES);
          ok = await this.send(registry, r.int(0, 1) ? 'grantRole' : 'revokeRole', [await owner.registry.VERIFIER_ROLE(), who]);
          break;
        }
        case 'settle':
          if (study) ok = await this.send(this.market(DEV_ROLES.settler), 'settle', [study]);
          break;
        case 'release':
          if (study) ok = await this.send(this.market(DEV_ROLES.settler), 'releaseExpiredLease', [study]);
          break;
        case 'time':
          if (r.int(0, 2) === 0) {
            await increaseTime(this.chain.provider, r.pick([3600, 5 * 3600, 25 * 3600]));
            ok = true;
          }
          break;
      }
      if (ok) done++;
    }
    return done;
  }
}

/** The exchange's actions in a generated history (requests and answers weigh most). */
const EXCHANGE_ACTIONS = [
  'xregister',
  'xregister',
  'xrequest',
  'xrequest',
  'xrequest',
  'xgrant',
  'xgrant',
  'xdeny',
  'xrenew',
  'xexpired',
  'xmisuse',
  'xmisuse',
  'xcancel',
  'xtransfer',
  'xrotate',
  'xdeposit',
  'xwithdraw',
  'xweek',
];

/** Runs the pipeline directly (one writer, no timers) until it has caught up; returns the steps. */
export async function catchUp(config: AppConfig, ds?: DataSource): Promise<StepResult[]> {
  const own = !ds;
  ds ??= await createDataSource(config.databaseUrl, { poolSize: 3 }).initialize();
  const store = new EventStore(ds);
  const pipeline = new IndexerPipeline(config, store);
  const writer = await store.tryWriter(config.chainId, pipeline.stream);
  if (!writer) throw new Error('catchUp: another writer holds the lock');
  const steps: StepResult[] = [];
  try {
    for (;;) {
      const r = await pipeline.step(writer);
      steps.push(r);
      if (r.caughtUp && !r.reorg) return steps;
    }
  } finally {
    await writer.release();
    if (own) await ds.destroy();
  }
}

/** Every table the indexer derives from the chain, in a canonical order and without surrogate keys or caches. */
/** a table dump's row: tests read columns by name and compare values */
export type Row = Record<string, unknown>;

export async function snapshot(databaseUrl: string): Promise<Record<string, Row[]>> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const q = async (sql: string) => (await c.query(sql)).rows;
    return {
      chain_events: await q(
        `SELECT chain_id, block_number, block_hash, block_time, tx_hash, log_index, contract, name, args FROM chain_events ORDER BY block_number, log_index`,
      ),
      // without the worklist's bounty ceilings: a cache the refresher keeps from chain time and the parameters (on
      // its own timer), not a projection of the events (apps/indexer/src/store/worklist.spec.ts checks it)
      studies: (await q(`SELECT * FROM studies ORDER BY chain_id, study_id`)).map(
        ({ bounty_ceiling, ceiling_until, ceiling_gen, ...row }) => row,
      ),
      credentials: await q(`SELECT * FROM credentials ORDER BY chain_id, radiologist`),
      incentive_parameters: await q(`SELECT * FROM incentive_parameters ORDER BY chain_id, name, key`),
      ledger_entries: await q(
        `SELECT chain_id, account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time FROM ledger_entries
         ORDER BY block_number, log_index, account, kind`,
      ),
      parameter_changes: await q(`SELECT * FROM parameter_changes ORDER BY chain_id, block_number, log_index`),
      contract_roles: await q(`SELECT * FROM contract_roles ORDER BY chain_id, contract, role, account`),
      governance_proposals: await q(`SELECT * FROM governance_proposals ORDER BY chain_id, governor, proposal_id`),
      governance_votes: await q(`SELECT * FROM governance_votes ORDER BY chain_id, governor, proposal_id, voter`),
      dao_votes: await q(`SELECT * FROM dao_votes ORDER BY chain_id, token, account`),
      exchange_ros: await q(`SELECT * FROM exchange_ros ORDER BY chain_id, ro`),
      exchange_ro_accounts: await q(`SELECT * FROM exchange_ro_accounts ORDER BY chain_id, account`),
      exchange_ro_keys: await q(`SELECT * FROM exchange_ro_keys ORDER BY chain_id, key_id`),
      exchange_custody: await q(`SELECT * FROM exchange_custody ORDER BY chain_id, study_id`),
      exchange_custody_history: await q(`SELECT * FROM exchange_custody_history ORDER BY chain_id, study_id, block_number, log_index`),
      exchange_leases: await q(`SELECT * FROM exchange_leases ORDER BY chain_id, lease_id`),
      exchange_expired_uses: await q(`SELECT * FROM exchange_expired_uses ORDER BY chain_id, block_number, log_index`),
      exchange_misuse_reports: await q(`SELECT * FROM exchange_misuse_reports ORDER BY chain_id, lease_id`),
      exchange_flags: await q(`SELECT * FROM exchange_flags ORDER BY chain_id, account`),
      indexer_checkpoints: await q(
        `SELECT chain_id, stream, block_number, block_hash, block_time FROM indexer_checkpoints ORDER BY chain_id, stream`,
      ),
    };
  } finally {
    await c.end();
  }
}

/** A clean index of the chain as it is now, in a database of its own: the reference every test compares with. */
export async function cleanSnapshot(chain: Chain, indexer: Partial<AppConfig['indexer']> = {}): Promise<Record<string, Row[]>> {
  const db = await createTestDatabase();
  try {
    await catchUp(indexerConfig(chain, db.url, { batchBlocks: 2000, ...indexer }));
    return await snapshot(db.url);
  } finally {
    await db.drop();
  }
}

/** Table-by-table differences (row counts and the first differing row), empty when equal. */
export function divergences(a: Record<string, unknown[]>, b: Record<string, unknown[]>): string[] {
  const out: string[] = [];
  for (const table of Object.keys(b)) {
    const x = a[table] ?? [];
    const y = b[table];
    const n = Math.max(x.length, y.length);
    for (let i = 0; i < n; i++) {
      if (JSON.stringify(x[i]) !== JSON.stringify(y[i])) {
        out.push(
          `${table}: ${x.length} vs ${y.length} rows; first difference at row ${i}: ${JSON.stringify(x[i])} vs ${JSON.stringify(y[i])}`,
        );
        break;
      }
    }
  }
  return out;
}

/** Replaces the last `depth` blocks with a new branch of other transactions, at least as long as the old one. */
export async function reorg(chain: Chain, activity: Activity, depth: number, newActions: number): Promise<void> {
  const before = await chain.head();
  await chain.rpc('anvil_rollback', [depth]);
  activity.reset();
  await activity.run(Math.min(newActions, depth));
  while ((await chain.head()) < before + 1) await chain.rpc('evm_mine');
}

/** The indexer app (service loop, writer lock, relay, health server) in this process. */
export async function startIndexer(config: AppConfig) {
  const { NestFactory } = await import('@nestjs/core');
  const { IndexerModule } = await import('#indexer');
  const { IndexerService } = await import('#indexer');
  const app = await NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger: ['error', 'warn'] });
  await app.init();
  const service = app.get(IndexerService);
  return { app, service, close: () => app.close() };
}

/** waitFor (a poll with a deadline) for the indexer tests: a longer default deadline, and `fn` may answer at once. */
export const until = <T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 60_000,
): Promise<T> => waitFor(what, async () => fn(), timeoutMs);
