import { Contract, toBeHex, zeroPadValue, type Provider, type Signer } from 'ethers';
import { decodeThrownError, loadArtifact, mined } from '#chain';
import { LeaseStatus } from './exchange-lease.js';

/**
 * The oRO agent's expired-use recorder: the API refuses a lease fetch after expiry with a `FETCH_LEASE` access-log
 * row (reason `LEASE_EXPIRED`); for those on studies this RO holds, the agent sends
 * `StudyCustody.recordExpiredUse(leaseId, account)` from its sender, so the custodian learns of it from the chain
 * (event ExpiredUseRecorded) and not only from the platform's log.
 *
 * Once per (lease, account): before sending, the chain is asked whether an ExpiredUseRecorded of that pair exists
 * (an indexed-topic getLogs from `fromBlock`), so a restarted agent (its cursor is in memory and starts at 0) or a
 * second fetch of the same expired lease records nothing twice. The send waits for its receipt before the next pair
 * is looked at: a crash between send and mining at worst leaves one pending transaction, which the next check finds
 * once mined (a dropped one is sent again).
 *
 * The access-log row names the study and the account, not the lease: the row is attributed to the newest granted
 * lease of that study to the RO the account acts for that is expired on chain now (`ExpiredFetchRow` candidates).
 * HAZARD: with two expired leases of one study to one RO, a fetch for the older one is recorded against the newer.
 *
 * Logs carry lease IDs and accounts (no PHI), never keys.
 */

/** A refused fetch after expiry and one lease it may have been for (RoAgentRepository.expiredFetches of #db). */
export interface ExpiredFetch {
  seq: number;
  studyId: string;
  account: string;
  leaseId: bigint | null;
}

export interface ExpiredFetchSource {
  expiredFetches(chainId: number, custodian: string, afterSeq: number, limit: number): Promise<ExpiredFetch[]>;
}

export type ExpiredUseOutcome = 'RECORDED' | 'ALREADY_RECORDED' | 'FAILED';

export interface ExpiredUseDecision {
  leaseId: bigint;
  account: string;
  outcome: ExpiredUseOutcome;
  /** the custom error StudyCustody answered with (FAILED) */
  contractError?: string;
}

export interface ExpiredUseRecorderOptions {
  provider: Provider;
  chainId: number;
  custody: string;
  /** the RO's principal account (the custodian) */
  ro: string;
  /** an account of the RO in RoDirectory, connected: sends recordExpiredUse (pays its gas) */
  sender: Signer;
  source: ExpiredFetchSource;
  fromBlock?: number;
  /** access-log rows read per pass */
  batch?: number;
  /** runs each pass alone with the agent's other sends (they share the sender's nonces): RoAgent.exclusively */
  exclusively?: <T>(work: () => Promise<T>) => Promise<T>;
  logger?: { log(message: string): void; warn(message: string): void };
}

export class ExpiredUseRecorder {
  private readonly custody: Contract;
  private afterSeq = 0;
  /** pairs known recorded (or not recordable) this run: spares the chain a question per repeated fetch */
  private readonly settled = new Set<string>();

  constructor(private readonly o: ExpiredUseRecorderOptions) {
    this.custody = new Contract(o.custody, loadArtifact('StudyCustody').abi, o.sender);
  }

  /** Reads new refused fetches and records each new (lease, account) on chain. A node error propagates; the next pass resumes at the row it failed on. */
  async poll(): Promise<ExpiredUseDecision[]> {
    const run = () => this.pass();
    return this.o.exclusively ? this.o.exclusively(run) : run();
  }

  private async pass(): Promise<ExpiredUseDecision[]> {
    const decisions: ExpiredUseDecision[] = [];
    for (;;) {
      const rows = await this.o.source.expiredFetches(this.o.chainId, this.o.ro, this.afterSeq, this.o.batch ?? 200);
      if (!rows.length) return decisions;
      const bySeq = new Map<number, ExpiredFetch[]>();
      for (const r of rows) bySeq.set(r.seq, [...(bySeq.get(r.seq) ?? []), r]);
      for (const [seq, candidates] of bySeq) {
        const decision = await this.handle(candidates);
        if (decision) decisions.push(decision);
        this.afterSeq = seq;
      }
    }
  }

  /** The newest candidate lease expired on chain now gets the record; null when no candidate is (nothing to say). */
  private async handle(candidates: ExpiredFetch[]): Promise<ExpiredUseDecision | null> {
    const now = BigInt((await this.o.provider.getBlock('latest'))!.timestamp);
    for (const c of candidates) {
      if (c.leaseId === null) return null;
      const lease = await this.custody.leaseOf(c.leaseId);
      if (Number(lease.status) !== LeaseStatus.Granted || now <= BigInt(lease.expiresAt)) continue;
      return this.record(c.leaseId, c.account);
    }
    return null; // renewed since: no longer expired, nothing to record
  }

  private async record(leaseId: bigint, account: string): Promise<ExpiredUseDecision> {
    const key = `${leaseId}:${account.toLowerCase()}`;
    const decided = (outcome: ExpiredUseOutcome, contractError?: string): ExpiredUseDecision => {
      if (outcome !== 'FAILED') this.settled.add(key);
      const line = `expired use of lease ${leaseId} by ${account}: ${outcome}${contractError ? ` (${contractError})` : ''}`;
      if (outcome === 'FAILED') this.o.logger?.warn(line);
      else if (outcome === 'RECORDED') this.o.logger?.log(line);
      return { leaseId, account, outcome, ...(contractError ? { contractError } : {}) };
    };
    if (this.settled.has(key) || (await this.recordedOnChain(leaseId, account))) return decided('ALREADY_RECORDED');
    try {
      await mined(this.custody.recordExpiredUse(leaseId, account));
      return decided('RECORDED');
    } catch (e) {
      const refused = decodeThrownError(e);
      if (!refused) throw e;
      // NotLessee (an account no longer acting for the requester), LeaseStillValid (renewed meanwhile): not retried
      this.settled.add(key);
      return decided('FAILED', refused.name);
    }
  }

  private async recordedOnChain(leaseId: bigint, account: string): Promise<boolean> {
    const logs = await this.o.provider.getLogs({
      address: this.o.custody,
      topics: [
        this.custody.interface.getEvent('ExpiredUseRecorded')!.topicHash,
        zeroPadValue(toBeHex(leaseId), 32),
        zeroPadValue(account, 32),
      ],
      fromBlock: this.o.fromBlock ?? 0,
      toBlock: 'latest',
    });
    return logs.length > 0;
  }
}
