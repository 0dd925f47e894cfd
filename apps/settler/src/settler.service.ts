import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Interface, JsonRpcProvider, Wallet } from 'ethers';
import { APP_CONFIG, PollingLoop, RepeatLog, type AppConfig } from '#config';
import { createProvider, loadArtifact } from '#chain';
import { RelayOutboxRepository, StudyRepository } from '#db';
import { TransactionSender } from './sender.service.js';

/**
 * The market's timers. Anyone may call `settle` after the dispute window and `releaseExpiredLease` after a
 * lease ends; the settler does it so radiologists are paid and studies return to the worklist without anyone
 * having to remember. Due work is read from the indexed studies at chain time (the latest block's timestamp),
 * so the settler and the contract agree on "now". Each due action becomes a row of the transaction outbox, once
 * while it is live (its dedupe key is the action and the study: a unique index, not a check); the sender simulates
 * it before sending, so a study someone else settled first (or the indexer is behind on) costs nothing.
 */
@Injectable()
export class SettlerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Settler');
  private readonly failures = new RepeatLog(this.logger);
  private readonly provider: JsonRpcProvider;
  private readonly market = new Interface(loadArtifact('StudyMarket').abi);
  private readonly sender: string;
  private readonly loop: PollingLoop;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly studies: StudyRepository,
    private readonly outbox: RelayOutboxRepository,
    private readonly transactions: TransactionSender,
  ) {
    if (!config.settler.privateKey) throw new Error('the settler needs SETTLER_PRIVATE_KEY (a funded account)');
    this.sender = new Wallet(config.settler.privateKey).address;
    this.provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
    this.loop = new PollingLoop(
      () => this.tick(),
      config.settler.pollMs,
      (e) => this.failures.error(`settler pass failed: ${e.message}`),
      undefined,
      'settle',
    );
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    this.provider.destroy();
  }

  /** Something happened on chain: look for due work now rather than at the next poll. */
  nudge(): void {
    this.loop.nudge();
  }

  /** One pass: returns how many new outbox rows it queued. */
  async tick(): Promise<number> {
    let queued = 0;
    try {
      const latest = await this.provider.getBlock('latest');
      if (!latest) return 0;
      for (const { studyId, action } of await this.studies.due(this.config.chainId, latest.timestamp)) {
        if (this.loop.isStopped) break;
        const fn = action === 'SETTLE' ? 'settle' : 'releaseExpiredLease';
        const { created } = await this.outbox.enqueueCall({
          chainId: this.config.chainId,
          purpose: 'settlement',
          sender: this.sender,
          target: this.config.contracts.market,
          function: fn,
          data: this.market.encodeFunctionData(fn, [studyId]),
          dedupeKey: `${fn}:${studyId.toLowerCase()}`,
        });
        if (created) queued++;
      }
      this.failures.ok('settler passes recovered');
    } catch (e) {
      this.failures.error(`settler pass failed: ${(e as Error).message}`);
    }
    if (queued) this.transactions.kick();
    return queued;
  }
}
