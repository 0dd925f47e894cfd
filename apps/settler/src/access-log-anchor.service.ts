import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import { createProvider, loadArtifact, waitForReceipt } from '#chain';
import { AccessLogRepository, GENESIS_HASH, accessLogHash, firstBrokenLink } from '#db';

const VERIFY_BATCH = 1000;

/**
 * Anchors the head of the study access log on chain (AccessLogAnchor) every `settler.anchorIntervalMs`, when
 * the log has grown. Before anchoring it recomputes the hash chain from the last anchored entry: a log that no
 * longer matches its anchor is reported and never anchored over. Disabled when no anchor contract is configured.
 * Uses the settler's key (it needs ANCHORER_ROLE), with its own provider and nonces read per transaction.
 */
@Injectable()
export class AccessLogAnchorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AccessLogAnchor');
  private readonly provider: JsonRpcProvider | null = null;
  private readonly anchor: Contract | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly log: AccessLogRepository,
  ) {
    if (!config.contracts.accessLogAnchor || !config.settler.privateKey) return;
    this.provider = createProvider(config.rpcUrl);
    this.anchor = new Contract(config.contracts.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, new Wallet(config.settler.privateKey, this.provider));
  }

  onApplicationBootstrap(): void {
    if (!this.anchor) return;
    this.timer = setInterval(() => {
      this.running ??= this.anchorNow()
        .catch((e) => this.logger.warn(`anchoring failed: ${(e as Error).message.split('\n')[0]}`))
        .finally(() => (this.running = null));
    }, this.config.settler.anchorIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    this.provider?.destroy();
  }

  /** Verifies the log since the last anchor and anchors its head. Returns the anchored seq, or null if nothing to do. */
  async anchorNow(): Promise<number | null> {
    if (!this.anchor || !this.provider) return null;
    const [lastSeq, lastHead] = (await this.anchor.latest()) as [bigint, string];
    const head = await this.verify(Number(lastSeq), lastHead.toLowerCase());
    if (head.seq === Number(lastSeq)) return null;
    const tx = await this.anchor.anchor(head.seq, head.hash);
    const receipt = await waitForReceipt(this.provider, tx.hash, 60_000);
    if (receipt?.status !== 1) throw new Error(`anchor transaction ${tx.hash} failed or was not mined`);
    this.logger.log(`access log anchored up to seq ${head.seq} in block ${receipt.blockNumber}`);
    return head.seq;
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
