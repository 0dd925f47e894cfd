import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { APP_CONFIG, RepeatLog, newLogId, withLogId, type AppConfig } from '#config';
import { createProvider, loadArtifact } from '#chain';
import { AccessLogRepository, GENESIS_HASH, RelayOutboxRepository, accessLogHash, firstBrokenLink } from '#db';
import { TransactionSender } from './sender.service.js';

const VERIFY_BATCH = 1000;

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
 * the log has grown. Before anchoring it recomputes the hash chain from the last anchored entry: a log that no
 * longer matches its anchor is reported and never anchored over. Disabled when no anchor contract is configured.
 * Sent from the settler's key (it needs ANCHORER_ROLE) through the transaction outbox, like every other transaction.
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
    const [lastSeq, lastHead] = (await this.anchor.latest()) as [bigint, string];
    const head = await this.verify(Number(lastSeq), lastHead.toLowerCase());
    if (head.seq === Number(lastSeq)) return null;
    const { row } = await this.outbox.enqueueCall({
      chainId: this.config.chainId,
      purpose: 'anchor',
      sender: this.sender!,
      target: this.config.contracts.accessLogAnchor!,
      function: 'anchor',
      data: this.anchor.interface.encodeFunctionData('anchor', [head.seq, head.hash]),
      dedupeKey: 'anchor',
    });
    this.transactions.kick();
    const done = await this.outbox.settled(row.id, 60_000, this.config.relay.pollMs);
    if (done.status !== 'MINED' || done.data !== row.data)
      throw new Error(
        `anchor transaction (outbox row ${row.id}) ${done.status === 'MINED' ? 'anchored another head' : `is ${done.status}: ${done.errorMessage ?? ''}`}`,
      );
    this.logger.log(`access log anchored up to seq ${head.seq} in block ${done.blockNumber}`);
    return head.seq;
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
      if (!/hash chain breaks|does not (reach|match)/.test(message)) {
        this.logger.warn(`access log audit could not run: ${message}`);
        return this.auditStatus();
      }
      if (this.status.detail !== message) this.logger.error(`ALERT access log tampering: ${message}`);
      this.status = { ok: false, lastAuditAt: Date.now(), detail: message, failures: this.status.failures + 1 };
    }
    return this.auditStatus();
  }

  /**
   * A full audit: recomputes the whole hash chain from the first entry and checks it reaches the anchored head.
   * Throws naming the first entry that no longer matches. O(log size); for audits, not for every anchoring.
   */
  async audit(): Promise<{ seq: number; hash: string }> {
    if (!this.anchor) throw new Error('no AccessLogAnchor configured');
    const [lastSeq, lastHead] = (await this.anchor.latest()) as [bigint, string];
    const upToAnchor = await this.verify(0, GENESIS_HASH, Number(lastSeq));
    if (upToAnchor.seq !== Number(lastSeq) || upToAnchor.hash !== lastHead.toLowerCase())
      throw new Error(`the access log does not reach its anchored head at seq ${lastSeq}`);
    return this.verify(upToAnchor.seq, upToAnchor.hash);
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
