import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../libs/config/src/index.js';
import { BusPublisher, CHAIN_EVENT } from '../../../libs/bus/src/index.js';
import { IndexerPipeline } from './pipeline.js';

/** Runs the pipeline in a loop: as fast as it can while behind, every pollMs when caught up, backing off on errors. */
@Injectable()
export class IndexerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Indexer');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private failures = 0;
  lastError: string | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pipeline: IndexerPipeline,
    private readonly bus: BusPublisher,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number) {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => (this.running = null));
    }, ms);
  }

  private async tick(): Promise<void> {
    let next = this.config.indexer.pollMs;
    try {
      const r = await this.pipeline.step();
      for (const e of r.fresh) await this.bus.publish(CHAIN_EVENT, { chainId: this.config.chainId, ...e });
      this.failures = 0;
      this.lastError = null;
      if (!r.caughtUp) next = 0;
    } catch (e) {
      this.failures++;
      this.lastError = (e as Error).message;
      next = Math.min(30_000, this.config.indexer.pollMs * 2 ** Math.min(this.failures, 5));
      this.logger.error(`indexing failed (attempt ${this.failures}, retry in ${next} ms): ${this.lastError}`);
    }
    this.schedule(next);
  }
}
