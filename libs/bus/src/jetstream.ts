import { type CustomTransportStrategy, type ReadPacket, Server, type WritePacket, ClientProxy } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient as JsClient,
} from '@nats-io/jetstream';
import { lastValueFrom } from 'rxjs';

/**
 * A NestJS microservice transport over NATS JetStream (Nest's own NATS transport is core NATS: fire and forget).
 *
 * - Subjects are `<namespace>.<pattern>`, kept in one stream (`<namespace>` upper-cased) that is created or
 *   updated on connect.
 * - The client publishes and resolves only on the stream's PubAck; the message ID header makes JetStream drop
 *   a republished message within its duplicate window.
 * - The server reads through a durable consumer per app with explicit acks: a message is acked only after its
 *   handler (a Nest @MessagePattern/@EventPattern) finished; a failure naks it for redelivery. Delivery is
 *   therefore at-least-once: handlers must be idempotent (see Inbox).
 */
export interface JetStreamOptions {
  servers: string;
  /** subject prefix and (upper-cased) stream name, default "openread" */
  namespace?: string;
  /** durable consumer name (one per consuming app) */
  durable?: string;
  /** deadline of connecting and of each JetStream request (a publish's PubAck, stream info), ms (default 5000) */
  timeoutMs?: number;
}

const streamName = (ns: string) => ns.toUpperCase().replace(/[^A-Z0-9_-]/g, '_');

async function ensureStream(nc: NatsConnection, ns: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const name = streamName(ns);
  try {
    await jsm.streams.info(name);
  } catch {
    await jsm.streams.add({ name, subjects: [`${ns}.>`], duplicate_window: 10 * 60 * 1_000_000_000 });
  }
}

export class JetStreamServer extends Server implements CustomTransportStrategy {
  private nc: NatsConnection | null = null;
  private messages: ConsumerMessages | null = null;
  private readonly ns: string;

  constructor(private readonly options: JetStreamOptions) {
    super();
    this.ns = options.namespace ?? 'openread';
  }

  async listen(callback: (...optionalParams: unknown[]) => unknown): Promise<void> {
    try {
      this.nc = await connect({
        servers: this.options.servers,
        name: this.options.durable,
        maxReconnectAttempts: -1,
        timeout: this.options.timeoutMs ?? 5_000,
      });
      await ensureStream(this.nc, this.ns);
      const jsm = await jetstreamManager(this.nc);
      const durable = this.options.durable ?? 'consumer';
      const subjects = [...this.messageHandlers.keys()].map((p) => `${this.ns}.${p}`);
      // one subject filter (multi-subject filters need NATS 2.10); other subjects of the stream are terminated
      const filter_subject = subjects.length === 1 ? subjects[0] : `${this.ns}.>`;
      const config = {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 30 * 1_000_000_000,
        max_deliver: -1,
        filter_subject,
      };
      try {
        await jsm.consumers.info(streamName(this.ns), durable);
        await jsm.consumers.update(streamName(this.ns), durable, { filter_subject, ack_wait: config.ack_wait });
      } catch {
        await jsm.consumers.add(streamName(this.ns), config);
      }
      const consumer = await jetstream(this.nc).consumers.get(streamName(this.ns), durable);
      this.messages = await consumer.consume({ max_messages: 256 });
      void this.pump(this.messages);
      callback();
    } catch (e) {
      callback(e);
    }
  }

  private async pump(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      const pattern = m.subject.slice(this.ns.length + 1);
      const handler = this.getHandlerByPattern(pattern);
      if (!handler) {
        m.term();
        continue;
      }
      try {
        const data = m.json();
        const out = this.transformToObservable(await handler(data));
        await lastValueFrom(out, { defaultValue: undefined });
        m.ack();
      } catch (e) {
        this.logger.error(`JetStream handler for ${pattern} failed (message will be redelivered): ${(e as Error).message}`);
        m.nak(1_000);
      }
    }
  }

  /**
   * Readiness: JetStream answers about this app's durable consumer (a request through the server, so it fails or
   * hangs while NATS is down or hung; the caller bounds it).
   */
  async ping(): Promise<void> {
    if (!this.nc) throw new Error('not connected to NATS');
    const jsm = await jetstreamManager(this.nc, { timeout: this.options.timeoutMs ?? 5_000, checkAPI: false });
    await jsm.consumers.info(streamName(this.ns), this.options.durable ?? 'consumer');
  }

  async close(): Promise<void> {
    await this.messages?.close();
    await this.nc?.drain().catch(() => undefined);
    this.nc = null;
  }

  on(): never {
    throw new Error('JetStreamServer.on is not supported');
  }

  unwrap<T>(): T {
    return this.nc as T;
  }
}

export class JetStreamClient extends ClientProxy {
  private nc: NatsConnection | null = null;
  private js: JsClient | null = null;
  private connecting: Promise<JsClient> | null = null;
  private readonly ns: string;

  constructor(private readonly options: JetStreamOptions) {
    super();
    this.ns = options.namespace ?? 'openread';
  }

  async connect(): Promise<JsClient> {
    if (this.js) return this.js;
    this.connecting ??= (async () => {
      try {
        const timeout = this.options.timeoutMs ?? 5_000;
        const nc = await connect({ servers: this.options.servers, maxReconnectAttempts: -1, timeout });
        await ensureStream(nc, this.ns);
        this.nc = nc;
        this.js = jetstream(nc, { timeout });
        return this.js;
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  /** Readiness: JetStream answers about the stream (connecting first if need be); the caller bounds it. */
  async ping(): Promise<void> {
    await this.connect();
    const jsm = await jetstreamManager(this.nc!, { timeout: this.options.timeoutMs ?? 5_000, checkAPI: false });
    await jsm.streams.info(streamName(this.ns));
  }

  async close(): Promise<void> {
    await this.nc?.drain().catch(() => undefined);
    this.nc = null;
    this.js = null;
  }

  /** emit(): resolves once the stream has stored the message (PubAck); msgID = data.id deduplicates. */
  protected async dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    const js = await this.connect();
    const data = packet.data as { id?: string };
    const pattern = this.normalizePattern(packet.pattern);
    return (await js.publish(`${this.ns}.${pattern}`, JSON.stringify(packet.data), data?.id ? { msgID: data.id } : undefined)) as T;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    // request-response over the stream is not what JetStream is for: acknowledge the publish instead
    this.dispatchEvent(packet).then(
      (ack) => callback({ response: ack, isDisposed: true }),
      (err) => callback({ err: (err as Error).message, isDisposed: true }),
    );
    return () => undefined;
  }

  override on(): never {
    throw new Error('JetStreamClient.on is not supported');
  }

  unwrap<T>(): T {
    return this.nc as T;
  }
}
