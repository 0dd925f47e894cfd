import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Contract, JsonRpcProvider, Wallet, ZeroHash } from 'ethers';
import { APP_CONFIG, RepeatLog, newLogId, withLogId, type AppConfig } from '#config';
import { createProvider, loadArtifact } from '#chain';
import { type AccessLogAnchorRow, AccessLogRepository, GENESIS_HASH, RelayOutboxRepository, accessLogHash, firstBrokenLink } from '#db';
import { AccessLogMerkleTree, accessLogLeaf } from '#lease';
import { TransactionSender } from './sender.service.js';

const VERIFY_BATCH = 1000;
const ANCHOR_PAGE = 100;

/** The scheduled audit's state, for a readiness/health detail and a metric (failures only ever grows). */
export interface AccessLogAuditStatus {
  /** false once an audit found the log no longer matching its anchors; true again after a clean audit */
  ok: boolean;
  /** ms since the epoch of the last audit that completed (clean or not); null before the first */
  lastAuditAt: number | null;
  /** the last audit's finding (which entry breaks), null when clean */
  detail: string | null;
  /** audits that found tampering since the process started (a counter) */
  failures: number;
}

/**
 * Anchors the head of the study access log on chain (AccessLogAnchor) every `settler.anchorIntervalMs`, when
 * the log has grown, with the Merkle root over the new entries' salted leaves (libs/lease access-log-proof.ts: what
 * an RO's inclusion proof leads to). Before anchoring it recomputes the hash chain from the last anchored entry: a log
 * that no longer matches its anchor is reported and never anchored over. Disabled when no anchor contract is
 * configured. Sent from the settler's key (it needs ANCHORER_ROLE) through the transaction outbox, like every other
 * transaction. The anchors mined are copied from the chain's events into access_log_anchors (the API finds proofs
 * with them), also after a restart that came between a mined anchor and its copy.
 */
@Injectable()
export class AccessLogAnchorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AccessLogAnchor');
  private readonly failures = new RepeatLog({ error: (m) => this.logger.warn(m), log: (m) => this.logger.log(m) });
  private readonly provider: JsonRpcProvider | null = null;
  private readonly anchor: Contract | null = null;
  private readonly sender: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private auditTimer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private auditing: Promise<unknown> | null = null;
  private status: AccessLogAuditStatus = { ok: true, lastAuditAt: null, detail: null, failures: 0 };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly log: AccessLogRepository,
    private readonly outbox: RelayOutboxRepository,
    private readonly transactions: TransactionSender,
  ) {
    if (!config.contracts.accessLogAnchor || !config.settler.privateKey) return;
    this.provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
    this.anchor = new Contract(config.contracts.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, this.provider);
    this.sender = new Wallet(config.settler.privateKey).address;
  }

  onApplicationBootstrap(): void {
    if (!this.anchor) return;
    this.timer = setInterval(() => {
      this.running ??= withLogId(newLogId('anchor'), () =>
        this.anchorNow().then(
          () => this.failures.ok('anchoring recovered'),
          (e) => this.failures.error(`anchoring failed: ${(e as Error).message.split('\n')[0]}`),
        ),
      ).finally(() => (this.running = null));
    }, this.config.settler.anchorIntervalMs);
    this.auditTimer = setInterval(() => {
      this.auditing ??= withLogId(newLogId('audit'), () => this.auditNow()).finally(() => (this.auditing = null));
    }, this.config.settler.auditIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.auditTimer) clearInterval(this.auditTimer);
    await Promise.all([this.running, this.auditing]);
    this.provider?.destroy();
  }

  /** Verifies the log since the last anchor and anchors its head. Returns the anchored seq, or null if nothing to do. */
  async anchorNow(): Promise<number | null> {
    if (!this.anchor || !this.provider) return null;
    await this.syncAnchors();
    const [lastSeq, lastHead] = (await this.anchor.latest()) as [bigint, string];
    const head = await this.verify(Number(lastSeq), lastHead.toLowerCase());
    if (head.seq === Number(lastSeq)) return null;
    const root = await this.rootOf(Number(lastSeq) + 1, head.seq);
    const { row } = await this.outbox.enqueueCall({
      chainId: this.config.chainId,
      purpose: 'anchor',
      sender: this.sender!,
      target: this.config.contracts.accessLogAnchor!,
      function: 'anchor',
      data: this.anchor.interface.encodeFunctionData('anchor', [head.seq, head.hash, root]),
      dedupeKey: 'anchor',
    });
    this.transactions.kick();
    const done = await this.outbox.settled(row.id, 60_000, this.config.relay.pollMs);
    if (done.status !== 'MINED' || done.data !== row.data)
      throw new Error(
        `anchor transaction (outbox row ${row.id}) ${done.status === 'MINED' ? 'anchored another head' : `is ${done.status}: ${done.errorMessage ?? ''}`}`,
      );
    this.logger.log(`access log anchored up to seq ${head.seq} in block ${done.blockNumber}`);
    await this.syncAnchors();
    return head.seq;
  }

  /** The Merkle root over the leaves of entries fromSeq..toSeq (OpenZeppelin's standard tree); zero if there are none. */
  private async rootOf(fromSeq: number, toSeq: number): Promise<string> {
    const entries = await this.log.between(fromSeq, toSeq);
    return entries.length ? new AccessLogMerkleTree(entries.map(accessLogLeaf)).root : ZeroHash;
  }

  /**
   * Copies the anchors mined since the last one recorded (AccessLogAnchored events) into access_log_anchors.
   * Hazard: it reads from the last recorded anchor's block (from block 0 the first time); a node that limits the
   * block range of eth_getLogs needs a first block configured (not done: the dev chain and tests have none).
   */
  async syncAnchors(): Promise<number> {
    if (!this.anchor) return 0;
    const last = await this.log.lastAnchor(this.config.chainId);
    const events = await this.anchor.queryFilter(this.anchor.filters.AccessLogAnchored(), last?.blockNumber ?? 0);
    const anchors: AccessLogAnchorRow[] = events.flatMap((e) =>
      'args' in e
        ? [
            {
              seq: Number(e.args.seq),
              fromSeq: Number(e.args.fromSeq),
              head: String(e.args.head).toLowerCase(),
              root: String(e.args.root).toLowerCase(),
              blockNumber: e.blockNumber,
              txHash: e.transactionHash.toLowerCase(),
            },
          ]
        : [],
    );
    await this.log.recordAnchors(this.config.chainId, anchors);
    return anchors.length;
  }

  /** The scheduled audit's state: for the worker's readiness detail and a failure counter. */
  auditStatus(): AccessLogAuditStatus {
    return { ...this.status };
  }

  /**
   * One scheduled audit (`audit()`), recorded in `auditStatus()`. A finding is logged as an error once per distinct
   * finding (not on every run), and again when the log is found clean after it. A failure to reach the database or
   * the chain is a warning, not a finding: it leaves the status as it was.
   */
  async auditNow(): Promise<AccessLogAuditStatus> {
    try {
      await this.audit();
      if (!this.status.ok) this.logger.log('access log audit: the log matches its on-chain anchor again');
      this.status = { ...this.status, ok: true, lastAuditAt: Date.now(), detail: null };
    } catch (e) {
      const message = (e as Error).message.split('\n')[0];
      if (!/hash chain breaks|does not (reach|match)|do not match/.test(message)) {
        this.logger.warn(`access log audit could not run: ${message}`);
        return this.auditStatus();
      }
      if (this.status.detail !== message) this.logger.error(`ALERT access log tampering: ${message}`);
      this.status = { ok: false, lastAuditAt: Date.now(), detail: message, failures: this.status.failures + 1 };
    }
    return this.auditStatus();
  }

  /**
   * A full audit: recomputes the whole hash chain from the first entry and checks it reaches the anchored head, then
   * recomputes every anchor's Merkle root from its entries (salts included) and compares it with the root on chain.
   * Throws naming the first entry or anchor that no longer matches. O(log size); for audits, not for every anchoring.
   */
  async audit(): Promise<{ seq: number; hash: string }> {
    if (!this.anchor) throw new Error('no AccessLogAnchor configured');
    const [lastSeq, lastHead] = (await this.anchor.latest()) as [bigint, string];
    const upToAnchor = await this.verify(0, GENESIS_HASH, Number(lastSeq));
    if (upToAnchor.seq !== Number(lastSeq) || upToAnchor.hash !== lastHead.toLowerCase())
      throw new Error(`the access log does not reach its anchored head at seq ${lastSeq}`);
    await this.auditRoots(Number(lastSeq));
    return this.verify(upToAnchor.seq, upToAnchor.hash);
  }

  /** Every anchor up to `lastSeq`: its entries' Merkle root equals the root on chain (not the recorded copy). */
  private async auditRoots(lastSeq: number): Promise<void> {
    await this.syncAnchors();
    let covered = 0;
    // (anchors mined after `lastSeq` was read are the next audit's)
    while (covered < lastSeq) {
      const page = (await this.log.anchors(this.config.chainId, covered, ANCHOR_PAGE)).filter((a) => a.seq <= lastSeq);
      if (!page.length) break;
      for (const a of page) {
        if (a.fromSeq !== covered + 1)
          throw new Error(`the access log's anchors do not match: entries ${covered + 1}..${a.fromSeq - 1} are in none`);
        const onChain = ((await this.anchor!.rootOf(a.seq)) as string).toLowerCase();
        if ((await this.rootOf(a.fromSeq, a.seq)) !== onChain)
          throw new Error(`the access log's entries ${a.fromSeq}..${a.seq} do not match their anchored Merkle root`);
        covered = a.seq;
      }
    }
    if (covered !== lastSeq) throw new Error(`the access log's anchors do not match: recorded up to seq ${covered}, on chain ${lastSeq}`);
  }

  /** Recomputes the chain after (fromSeq, fromHash), up to `toSeq` or the end; returns the last entry's seq and hash. */
  private async verify(fromSeq: number, fromHash: string, toSeq = Number.MAX_SAFE_INTEGER): Promise<{ seq: number; hash: string }> {
    let seq = fromSeq;
    let prev = fromSeq === 0 ? GENESIS_HASH : fromHash;
    if (fromSeq > 0) {
      const [anchored] = await this.log.range(fromSeq - 1, 1);
      if (!anchored || anchored.hash !== prev || accessLogHash(anchored) !== anchored.hash)
        throw new Error(`the access log does not match its anchor at seq ${fromSeq}: refusing to anchor`);
    }
    while (seq < toSeq) {
      const batch = (await this.log.range(seq, Math.min(VERIFY_BATCH, toSeq - seq))).filter((e) => e.seq <= toSeq);
      if (!batch.length) break;
      const broken = firstBrokenLink(batch, prev);
      if (broken !== null) throw new Error(`the access log's hash chain breaks at seq ${broken}: refusing to anchor`);
      seq = batch.at(-1)!.seq;
      prev = batch.at(-1)!.hash;
    }
    return { seq, hash: prev };
  }
}
