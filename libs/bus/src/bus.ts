import { DynamicModule, Global, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { type ClientProxy, ClientProxyFactory, type MicroserviceOptions, Transport } from '@nestjs/microservices';
import { lastValueFrom, timeout } from 'rxjs';
import { APP_CONFIG, type AppConfig } from '#config';
import type { ChainEvent, OutboxMessage } from '#db';
import { JetStreamClient, JetStreamServer } from './jetstream.js';

/** The pattern every indexed chain event is published under (NATS subject `<namespace>.chain-event`). */
export const CHAIN_EVENT = 'chain-event';

/** What consumers receive: the event, and a message ID that stays the same on every redelivery. */
export interface ChainEventMessage {
  id: string;
  event: ChainEvent & { chainId: number; removed: boolean };
}

/**
 * Transport between the apps, always through @nestjs/microservices:
 * - NATS_URL set: JetStream (custom Nest transport, jetstream.ts): durable stream, PubAck on publish,
 *   explicit acks per consumer.
 * - otherwise: Nest's TCP transport to the settler (needs nothing beyond `npm start`); messages are sent as
 *   requests, and the consumer's reply is the acknowledgement.
 * Either way the indexer publishes from the outbox (written in the same transaction as the events) and
 * deletes a row only once acknowledged: at-least-once. Consumers deduplicate on the message ID (Inbox).
 */
export function busServerOptions(config: AppConfig, durable: string): MicroserviceOptions {
  return config.bus.natsUrl
    ? {
        strategy: new JetStreamServer({
          servers: config.bus.natsUrl,
          namespace: config.bus.namespace,
          durable,
          timeoutMs: config.bus.ackTimeoutMs,
        }),
      }
    : { transport: Transport.TCP, options: { host: config.bus.settlerHost, port: config.bus.settlerPort } };
}

/** The readiness check of a consumer's bus connection (JetStream: its durable consumer answers), or null over TCP. */
export function busServerProbe(options: MicroserviceOptions): (() => Promise<void>) | null {
  const strategy = (options as { strategy?: unknown }).strategy;
  return strategy instanceof JetStreamServer ? () => strategy.ping() : null;
}

@Injectable()
export class BusPublisher implements OnApplicationShutdown {
  private readonly logger = new Logger('Bus');
  private readonly client: ClientProxy;
  private readonly jetstream: boolean;
  private failing = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.jetstream = !!config.bus.natsUrl;
    this.client = config.bus.natsUrl
      ? new JetStreamClient({ servers: config.bus.natsUrl, namespace: config.bus.namespace, timeoutMs: config.bus.ackTimeoutMs })
      : ClientProxyFactory.create({ transport: Transport.TCP, options: { host: config.bus.settlerHost, port: config.bus.settlerPort } });
  }

  get transport(): string {
    return this.jetstream ? 'nats-jetstream' : 'tcp';
  }

  /** false from a failed delivery until one succeeds again (shown by the indexer's readiness) */
  get reachable(): boolean {
    return !this.failing;
  }

  /**
   * A readiness check of the bus, or null when there is none to make: with JetStream, the stream answers (NATS is a
   * dependency of its own); over TCP the other end is the worker, an app with its own readiness.
   */
  get probe(): (() => Promise<void>) | null {
    return this.client instanceof JetStreamClient ? () => (this.client as JetStreamClient).ping() : null;
  }

  /**
   * Publishes outbox messages (in order, a few at a time) and returns the keys of those the bus acknowledged.
   * Never throws: a bus that is down leaves the messages in the outbox for the next round.
   */
  async deliver(messages: OutboxMessage[]): Promise<Set<string>> {
    const acked = new Set<string>();
    const ms = this.config.bus.ackTimeoutMs;
    for (let i = 0; i < messages.length; i += 32) {
      const part = messages.slice(i, i + 32);
      const results = await Promise.allSettled(
        part.map((m) => {
          const payload: ChainEventMessage = { id: m.messageId, event: m.event };
          const reply = this.jetstream ? this.client.emit(CHAIN_EVENT, payload) : this.client.send(CHAIN_EVENT, payload);
          return lastValueFrom(reply.pipe(timeout(ms)), { defaultValue: undefined });
        }),
      );
      results.forEach((r, j) => {
        if (r.status === 'fulfilled') acked.add(part[j].key);
      });
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) {
        // one warning per outage, not one per event
        if (!this.failing)
          this.logger.warn(
            `bus (${this.transport}) unavailable, events wait in the outbox: ${String(failed.reason?.message ?? failed.reason)}`,
          );
        this.failing = true;
        break; // keep order: retry from the first failure next round
      }
    }
    if (this.failing && acked.size === messages.length && messages.length) {
      this.logger.log(`bus (${this.transport}) reachable again`);
      this.failing = false;
    }
    return acked;
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
