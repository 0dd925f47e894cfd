import { Contract, keccak256, toBeHex, zeroPadValue, type Log, type Provider, type Signer } from 'ethers';
import { decodeThrownError, loadArtifact, mined } from '#chain';
import {
  LeaseStatus,
  exchangeLeaseDomain,
  sealExchangeLease,
  signExchangeLease,
  termsOf,
  type ExchangeLeasePackage,
} from './exchange-lease.js';

/**
 * The RO agent's lease service: the oRO side of the exchange lease, run by the custodian RO itself.
 *
 * Where it lives: issue 14 wants the agent as a NestJS app of its own (it holds the RO's private keys, from a key
 * file or a key service, never the platform's database or API). This service is framework-free so that app stays a
 * thin module (configuration, a timer calling `poll`, health): it takes its keys, its study holdings and the package
 * store as constructor arguments, reads and writes the chain itself, and never sees another RO's key. The app is
 * apps/ro-agent; tests also construct it directly.
 *
 * What it does, for every `LeaseRequested` of StudyCustody (scanned from `fromBlock`, in chain order):
 *  - a request for a study another RO holds, or one already answered, is skipped (a restart re-reads the chain and
 *    finishes a grant whose package was sealed but not yet signed);
 *  - a study whose patient revoked its custody (StudyCustody.revokedAt), a study this RO does not hold (no study
 *    key), a requester not active in RoDirectory, or a requester key no longer live: `denyLease` (the fee is
 *    refunded on chain), checked again when a person approves a queued request;
 *  - otherwise the policy: `auto` grants at once, `manual` queues it for `approve` / `reject`;
 *  - a grant: a fresh lease key re-encrypts the study and is sealed to the requester's registered key
 *    (`sealExchangeLease`), the sealed package is stored, `grantLease` records its hashes on chain, and the terms
 *    with the expiry LeaseGranted set are signed by the RO's registered signer and stored beside it.
 *
 * HAZARDS: the sender must be an account of the custodian RO in RoDirectory and pays the gas; the signer must be the
 * signer of `signerKeyId` (the agent checks both at start: `checkRegistration`). Logs carry lease and study IDs
 * (random, no PHI), never keys or plaintext.
 */

export type GrantPolicy = { mode: 'auto' } | { mode: 'manual' };

/** The studies this RO holds: the encrypted study and its own study key, or null if it does not hold it. */
export interface StudyHoldings {
  study(studyId: string): Promise<{ envelope: Buffer; studyKey: Buffer } | null>;
}

/** A stored lease package (the shape of LeasePackageRepository's rows in #db). */
export interface StoredLeasePackage {
  leaseId: bigint;
  studyId: string;
  requester: string;
  custodian: string;
  recipientKeyId: bigint;
  signerKeyId: bigint;
  issuedAt: bigint;
  ciphertext: Buffer;
  wrappedKey: Buffer;
  expiresAt: bigint | null;
  signature: string | null;
}

/** Where packages go for the requester to fetch (LeasePackageRepository of #db fits it). */
export interface LeasePackageStore {
  storeSealed(chainId: number, p: Omit<StoredLeasePackage, 'expiresAt' | 'signature'>): Promise<boolean>;
  sign(chainId: number, leaseId: bigint, expiresAt: bigint, signature: string): Promise<boolean>;
  package(chainId: number, leaseId: bigint): Promise<StoredLeasePackage | null>;
}

/** A signed stored package as `openLease` takes it; null if not stored or not signed yet. */
export function signedPackage(p: StoredLeasePackage | null): ExchangeLeasePackage | null {
  if (!p || p.signature === null || p.expiresAt === null) return null;
  return {
    terms: termsOf(
      p,
      { ciphertextHash: keccak256(p.ciphertext), wrappedKeyHash: keccak256(p.wrappedKey), issuedAt: p.issuedAt },
      p.expiresAt,
    ),
    ciphertext: p.ciphertext,
    wrappedKey: p.wrappedKey,
    signature: p.signature,
  };
}

export type AgentOutcome = 'GRANTED' | 'DENIED' | 'QUEUED' | 'SKIPPED' | 'FAILED';
/** Why the agent denied, skipped or failed a request (closed). */
export type AgentReason =
  | 'NOT_CUSTODIAN'
  | 'ALREADY_ANSWERED'
  | 'NOT_HELD'
  | 'REQUESTER_NOT_ACTIVE'
  | 'REQUESTER_KEY_NOT_LIVE'
  | 'REJECTED'
  | 'CONTRACT_REFUSED'
  | 'COMPLETED_AFTER_RESTART'
  | 'CUSTODY_REVOKED';

export interface AgentDecision {
  leaseId: bigint;
  studyId: string;
  outcome: AgentOutcome;
  reason?: AgentReason;
  /** the custom error StudyCustody answered with, when it refused (CONTRACT_REFUSED) */
  contractError?: string;
}

export interface RoAgentOptions {
  provider: Provider;
  chainId: number;
  /** StudyCustody's address (its RoDirectory is read from it) */
  custody: string;
  /** the RO's principal account (the custodian named on chain) */
  ro: string;
  /** an account of the RO in RoDirectory, connected to `provider`: sends grantLease and denyLease */
  sender: Signer;
  /** the RO's registered grant-signing key (need not be connected) and its RoDirectory key ID */
  signer: Signer;
  signerKeyId: bigint;
  holdings: StudyHoldings;
  store: LeasePackageStore;
  policy: GrantPolicy;
  /** first block to scan (the deployment's block on a real chain) */
  fromBlock?: number;
  logger?: { log(message: string): void; warn(message: string): void };
}

interface Request {
  leaseId: bigint;
  studyId: string;
  requester: string;
  keyId: bigint;
}

export class RoAgent {
  private readonly custody: Contract;
  private directory: Contract | null = null;
  private nextBlock: number;
  private readonly queued = new Map<bigint, Request>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: RoAgentOptions) {
    this.custody = new Contract(o.custody, loadArtifact('StudyCustody').abi, o.sender);
    this.nextBlock = o.fromBlock ?? 0;
  }

  private async dir(): Promise<Contract> {
    this.directory ??= new Contract(await this.custody.directory(), loadArtifact('RoDirectory').abi, this.o.provider);
    return this.directory;
  }

  /** Throws unless the sender acts for the RO and the signer is the live signer of `signerKeyId` for it. */
  async checkRegistration(): Promise<void> {
    const d = await this.dir();
    const sender = await this.o.sender.getAddress();
    if (((await d.roOf(sender)) as string).toLowerCase() !== this.o.ro.toLowerCase())
      throw new Error('the agent sender is not an account of its RO in RoDirectory');
    const key = await d.keyOf(this.o.signerKeyId);
    const signer = await this.o.signer.getAddress();
    if (
      (key.ro as string).toLowerCase() !== this.o.ro.toLowerCase() ||
      key.revoked ||
      (key.signer as string).toLowerCase() !== signer.toLowerCase()
    )
      throw new Error("the agent signer is not the RO's live signer of its signing key ID");
  }

  /** Requests waiting for a person's decision (policy `manual`). */
  pending(): bigint[] {
    return [...this.queued.keys()];
  }

  /**
   * Scans new LeaseRequested events up to the latest block and answers each. A node error propagates and the scan
   * resumes from the event it failed on at the next call (an answered request is skipped then).
   */
  async poll(): Promise<AgentDecision[]> {
    return this.serially(() => this.scan());
  }

  /** Runs `work` alone with the agent's scans and decisions (another sender of the same account, e.g. ExpiredUseRecorder). */
  exclusively<T>(work: () => Promise<T>): Promise<T> {
    return this.serially(work);
  }

  /** One thing at a time: scans and a person's decisions share the sender's nonce sequence. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.running.then(work);
    this.running = run.catch(() => undefined);
    return run;
  }

  private async scan(): Promise<AgentDecision[]> {
    const latest = await this.o.provider.getBlockNumber();
    if (latest < this.nextBlock) return [];
    const logs = await this.o.provider.getLogs({
      address: this.o.custody,
      topics: [this.custody.interface.getEvent('LeaseRequested')!.topicHash],
      fromBlock: this.nextBlock,
      toBlock: latest,
    });
    const decisions: AgentDecision[] = [];
    for (const log of logs) {
      // if answering throws, the next scan starts at this block (its answered requests are skipped then)
      this.nextBlock = log.blockNumber;
      decisions.push(await this.answer(this.requestOf(log)));
    }
    this.nextBlock = latest + 1;
    return decisions;
  }

  private requestOf(log: Log): Request {
    const p = this.custody.interface.parseLog(log)!;
    return { leaseId: p.args.leaseId, studyId: p.args.studyId, requester: p.args.requester, keyId: p.args.keyId };
  }

  private async answer(r: Request): Promise<AgentDecision> {
    const decided = (outcome: AgentOutcome, reason?: AgentReason) => this.decided(r, outcome, reason);
    const custodian = ((await this.custody.custodyOf(r.studyId)).ro as string).toLowerCase();
    if (custodian !== this.o.ro.toLowerCase()) return decided('SKIPPED', 'NOT_CUSTODIAN');
    const lease = await this.custody.leaseOf(r.leaseId);
    if (Number(lease.status) !== LeaseStatus.Requested) {
      const stored = await this.o.store.package(this.o.chainId, r.leaseId);
      if (
        Number(lease.status) === LeaseStatus.Granted &&
        stored &&
        stored.signature === null &&
        keccak256(stored.ciphertext) === lease.ciphertextHash
      ) {
        await this.signStored(r, stored.issuedAt, await this.grantedExpiry(r.leaseId), stored);
        return decided('GRANTED', 'COMPLETED_AFTER_RESTART');
      }
      return decided('SKIPPED', 'ALREADY_ANSWERED');
    }
    const refusal = await this.refusalOf(r);
    if (refusal) return this.send(r, 'deny', refusal);
    if (this.o.policy.mode === 'manual') {
      this.queued.set(r.leaseId, r);
      return decided('QUEUED');
    }
    return this.send(r, 'grant');
  }

  /** A person grants a queued request (policy `manual`); the checks run again against the chain of now. */
  async approve(leaseId: bigint): Promise<AgentDecision> {
    return this.serially(() => this.decideQueued(leaseId, true));
  }

  /** A person refuses a queued request: denyLease refunds the requester. */
  async reject(leaseId: bigint): Promise<AgentDecision> {
    return this.serially(() => this.decideQueued(leaseId, false));
  }

  private async decideQueued(leaseId: bigint, grant: boolean): Promise<AgentDecision> {
    const r = this.queued.get(leaseId);
    if (!r) throw new RangeError(`lease ${leaseId} is not waiting for a decision`);
    this.queued.delete(leaseId);
    if (!grant) return this.send(r, 'deny', 'REJECTED');
    const refusal = await this.refusalOf(r);
    return refusal ? this.send(r, 'deny', refusal) : this.send(r, 'grant');
  }

  private async refusalOf(r: Request): Promise<AgentReason | null> {
    // the patient revoked the study: the chain refuses a grant (RevokedByPatient), so no grant is sent (and no
    // package sealed); the denial refunds the requester at once rather than after its cancel timeout
    if ((await this.custody.revokedAt(r.studyId)) !== 0n) return 'CUSTODY_REVOKED';
    const d = await this.dir();
    if (!(await d.isActive(r.requester))) return 'REQUESTER_NOT_ACTIVE';
    if (!(await d.isLiveKeyOf(r.keyId, r.requester))) return 'REQUESTER_KEY_NOT_LIVE';
    if (!(await this.o.holdings.study(r.studyId))) return 'NOT_HELD';
    return null;
  }

  private async send(r: Request, action: 'grant' | 'deny', reason?: AgentReason): Promise<AgentDecision> {
    try {
      if (action === 'deny') {
        await mined(this.custody.denyLease(r.leaseId));
        return this.decided(r, 'DENIED', reason);
      }
      await this.grant(r);
      return this.decided(r, 'GRANTED');
    } catch (e) {
      const refused = decodeThrownError(e);
      if (!refused) throw e;
      return this.decided(r, 'FAILED', 'CONTRACT_REFUSED', refused.name);
    }
  }

  /** The decision, logged: lease and study IDs (random, no PHI) and closed codes only. */
  private decided(r: Request, outcome: AgentOutcome, reason?: AgentReason, contractError?: string): AgentDecision {
    const line = `lease ${r.leaseId} of study ${r.studyId}: ${outcome}${reason ? ` (${reason}${contractError ? `: ${contractError}` : ''})` : ''}`;
    if (outcome === 'FAILED') this.o.logger?.warn(line);
    else this.o.logger?.log(line);
    return { leaseId: r.leaseId, studyId: r.studyId, outcome, ...(reason ? { reason } : {}), ...(contractError ? { contractError } : {}) };
  }

  private async grant(r: Request): Promise<void> {
    const { chainId, custody, store } = this.o;
    let stored = await store.package(chainId, r.leaseId);
    if (!stored) {
      // an unsigned package from before a restart is reused: its hashes may already be in a sent grant
      const held = (await this.o.holdings.study(r.studyId))!;
      const key = await (await this.dir()).keyOf(r.keyId);
      const block = await this.o.provider.getBlock('latest');
      const sealed = sealExchangeLease({
        chainId,
        custody,
        leaseId: r.leaseId,
        studyId: r.studyId,
        requester: r.requester,
        recipientKeyId: r.keyId,
        recipientPublicKey: key.encryptionKey,
        studyEnvelope: held.envelope,
        studyKey: held.studyKey,
        issuedAt: BigInt(block!.timestamp),
      });
      const row = {
        leaseId: r.leaseId,
        studyId: r.studyId,
        requester: r.requester,
        custodian: this.o.ro,
        recipientKeyId: r.keyId,
        signerKeyId: this.o.signerKeyId,
        issuedAt: sealed.issuedAt,
        ciphertext: sealed.ciphertext,
        wrappedKey: sealed.wrappedKey,
      };
      await store.storeSealed(chainId, row);
      stored = (await store.package(chainId, r.leaseId))!;
    }
    const receipt = await mined(this.custody.grantLease(r.leaseId, keccak256(stored.wrappedKey), keccak256(stored.ciphertext)));
    const granted = receipt.logs
      .filter((l) => l.address.toLowerCase() === custody.toLowerCase())
      .map((l) => this.custody.interface.parseLog(l))
      .find((p) => p?.name === 'LeaseGranted')!;
    await this.signStored(r, stored.issuedAt, granted.args.expiresAt as bigint, stored);
  }

  /** The expiry LeaseGranted recorded (the lease's own moves on with renewals; the terms name the granted one). */
  private async grantedExpiry(leaseId: bigint): Promise<bigint> {
    const [log] = await this.o.provider.getLogs({
      address: this.o.custody,
      topics: [this.custody.interface.getEvent('LeaseGranted')!.topicHash, zeroPadValue(toBeHex(leaseId), 32)],
      fromBlock: this.o.fromBlock ?? 0,
    });
    return this.custody.interface.parseLog(log)!.args.expiresAt as bigint;
  }

  private async signStored(r: Request, issuedAt: bigint, expiresAt: bigint, stored: StoredLeasePackage): Promise<void> {
    const terms = termsOf(
      { ...r, custodian: this.o.ro, recipientKeyId: r.keyId, signerKeyId: stored.signerKeyId },
      { ciphertextHash: keccak256(stored.ciphertext), wrappedKeyHash: keccak256(stored.wrappedKey), issuedAt },
      expiresAt,
    );
    const signature = await signExchangeLease(this.o.signer, exchangeLeaseDomain(this.o.chainId, this.o.custody), terms);
    await this.o.store.sign(this.o.chainId, r.leaseId, expiresAt, signature);
  }

  /** Polls every `intervalMs` until `stop` (errors are logged and retried at the next tick). */
  start(intervalMs = 2000): void {
    if (this.timer) return;
    const tick = () => {
      this.poll()
        .catch((e: unknown) => this.o.logger?.warn(`lease scan failed, retried: ${(e as Error).message}`))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
