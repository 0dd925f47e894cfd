import { DynamicModule, Global, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, MicroserviceOptions, Transport } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { APP_CONFIG, AppConfig } from '../../config/src/index.js';

/** The pattern every indexed chain event is published under. Payload: ChainEvent & { chainId }. */
export const CHAIN_EVENT = 'openread.chain-event';

/**
 * Transport between the apps: NATS when NATS_URL is set, otherwise Nest's TCP transport to the settler
 * (needs nothing beyond `npm start`). Delivery is best-effort here; every consumer also reconciles from
 * Postgres on a timer, so a lost message only delays work (an outbox with at-least-once delivery is issue 5).
 */
export function busServerOptions(config: AppConfig): MicroserviceOptions {
  return config.bus.natsUrl
    ? { transport: Transport.NATS, options: { servers: [config.bus.natsUrl], queue: 'openread-settler' } }
    : { transport: Transport.TCP, options: { host: config.bus.settlerHost, port: config.bus.settlerPort } };
}

@Injectable()
export class BusPublisher implements OnApplicationShutdown {
  private readonly logger = new Logger('Bus');
  private readonly client: ClientProxy;
  private failing = false;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.client = ClientProxyFactory.create(
      config.bus.natsUrl
        ? { transport: Transport.NATS, options: { servers: [config.bus.natsUrl] } }
        : { transport: Transport.TCP, options: { host: config.bus.settlerHost, port: config.bus.settlerPort } },
    );
  }

  /** Never throws: a consumer that is down must not stop the publisher. */
  async publish(pattern: string, payload: unknown): Promise<boolean> {
    try {
      await lastValueFrom(this.client.emit(pattern, payload), { defaultValue: undefined });
      if (this.failing) this.logger.log('bus reachable again');
      this.failing = false;
      return true;
    } catch (e) {
      // one warning per outage, not one per event
      if (!this.failing) this.logger.warn(`publish ${pattern} failed (consumers catch up from Postgres): ${(e as Error).message}`);
      this.failing = true;
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

@Global()
@Module({ providers: [BusPublisher], exports: [BusPublisher] })
export class BusModule {
  static forRoot(): DynamicModule {
    return { module: BusModule };
  }
}
