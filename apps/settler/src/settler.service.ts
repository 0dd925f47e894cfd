import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Contract, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { APP_CONFIG, PollingLoop, type AppConfig } from '#config';
import { createProvider, loadArtifact, waitForReceipt, classifyChainError } from '#chain';
import { StudyRepository } from '#db';

/**
 * The market's timers. Anyone may call `settle` after the dispute window and `releaseExpiredLease` after a
 * lease ends; the settler does it so radiologists are paid and studies return to the worklist without anyone
 * having to remember. Due work is read from the indexed studies at chain time (the latest block's timestamp),
 * so the settler and the contract agree on "now". Each transaction is simulated first; a revert because
 * someone else was faster is not an error.
 */
@Injectable()
export class SettlerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Settler');
  private readonly provider: JsonRpcProvider;
  private readonly market: Contract;
  private readonly inFlight = new Set<string>();
  private readonly loop: PollingLoop;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly studies: StudyRepository,
  ) {
    if (!config.settler.privateKey) throw new Error('the settler needs SETTLER_PRIVATE_KEY (a funded account)');
    this.provider = createProvider(config.rpcUrl);
    const signer = new NonceManager(new Wallet(config.settler.privateKey, this.provider));
    this.market = new Contract(config.contracts.market, loadArtifact('StudyMarket').abi, signer);
    this.loop = new PollingLoop(() => this.tick(), config.settler.pollMs, (e) => this.logger.error(`settler pass failed: ${e.message}`));
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

  /** One pass: returns how many transactions were confirmed. */
  async tick(): Promise<number> {
    let done = 0;
    try {
      const latest = await this.provider.getBlock('latest');
      if (!latest) return 0;
      const due = await this.studies.due(this.config.chainId, latest.timestamp);
      for (const { studyId, action } of due) {
        if (this.loop.isStopped) break;
        if (this.inFlight.has(studyId)) continue;
        this.inFlight.add(studyId);
        try {
          if (await this.execute(studyId, action === 'SETTLE' ? 'settle' : 'releaseExpiredLease')) done++;
        } finally {
          this.inFlight.delete(studyId);
        }
      }
    } catch (e) {
      this.logger.error(`settler pass failed: ${(e as Error).message}`);
    }
    return done;
  }

  private async execute(studyId: string, method: 'settle' | 'releaseExpiredLease'): Promise<boolean> {
    try {
      await this.market[method].staticCall(studyId);
    } catch (e) {
      const f = classifyChainError(e);
      // already done by someone else, or the indexer is behind: not ours to fix
      this.logger.debug?.(`${method} ${studyId} skipped: ${f.kind === 'REVERTED' ? (f.reason ?? f.message) : f.message}`);
      return false;
    }
    try {
      const tx = await this.market[method](studyId);
      const receipt = await waitForReceipt(this.provider, tx.hash, 60_000);
      if (!receipt) throw new Error(`not mined within 60 s (tx ${tx.hash})`);
      this.logger.log(`${method} ${studyId} in block ${receipt?.blockNumber}`);
      return receipt?.status === 1;
    } catch (e) {
      (this.market.runner as NonceManager).reset();
      this.logger.warn(`${method} ${studyId} failed: ${(e as Error).message.split('\n')[0]}`);
      return false;
    }
  }
}
