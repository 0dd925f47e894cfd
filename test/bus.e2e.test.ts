import { Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SettlerController, SettlerService } from '#settler';
import { busServerOptions } from '#bus';
import { freePort } from '#devchain';
import { AppConfig, ConfigModule, parseConfig } from '#config';
import { DbModule } from '#db';
import { createTestDatabase } from '#db/testing';
import { Activity, Chain, indexerConfig, reorg, startChain, startIndexer, until } from './support/indexing.js';

type Db = Awaited<ReturnType<typeof createTestDatabase>>;
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';

/** The settler's real consumer (controller + inbox) with the timer service replaced by a counter. */
async function startConsumer(config: AppConfig) {
  const nudges = { n: 0 };
  @Module({
    imports: [ConfigModule.forRoot(config), DbModule.forRoot('openread-bus-test')],
    controllers: [SettlerController],
    providers: [{ provide: SettlerService, useValue: { nudge: () => nudges.n++ } }],
  })
  class ConsumerModule {}
  const app: INestMicroservice = await NestFactory.createMicroservice(ConsumerModule, {
    ...busServerOptions(config, 'settler'),
    logger: ['error'],
  });
  await app.listen();
  return { app, nudges };
}

describe('bus: every indexed event reaches the other apps at least once, and is handled once', () => {
  let chain: Chain;
  const dbs: Db[] = [];
  let c: pg.Client;

  beforeAll(async () => {
    chain = await startChain();
  });
  afterAll(async () => {
    await c?.end().catch(() => undefined);
    for (const d of dbs) await d.drop();
    await chain?.stop();
  });

  const counts = async (url: string) => {
    c = new pg.Client({ connectionString: url });
    await c.connect();
    const q = async (sql: string) => (await c.query(sql)).rows[0].n as number;
    const r = {
      events: await q(`SELECT count(*)::int AS n FROM chain_events`),
      // not yet acknowledged by the bus: removal notices, and events past the cursor
      outbox: await q(
        `SELECT ((SELECT count(*) FROM outbox) + (SELECT count(*) FROM chain_events WHERE id > coalesce((SELECT max(last_event_id) FROM bus_cursor), 0)))::int AS n`,
      ),
      inbox: await q(`SELECT count(*)::int AS n FROM bus_inbox WHERE consumer = 'settler' AND message_id NOT LIKE '%:removed'`),
      removed: await q(`SELECT count(*)::int AS n FROM bus_inbox WHERE consumer = 'settler' AND message_id LIKE '%:removed'`),
    };
    await c.end();
    return r;
  };
  /** as if the relay crashed every time after publishing and before moving the cursor: every event goes out again */
  const republishAll = async (url: string) => {
    const k = new pg.Client({ connectionString: url });
    await k.connect();
    await k.query(`UPDATE bus_cursor SET last_event_id = 0`);
    await k.end();
  };

  it('NATS JetStream: outbox → stream (PubAck, msgID dedupe) → durable consumer with explicit acks; survives a consumer outage', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const namespace = `openread_test_${randomBytes(4).toString('hex')}`;
    const base = indexerConfig(chain, db.url);
    const config = parseConfig({ ...base, bus: { ...base.bus, natsUrl: NATS_URL, namespace } });
    const nc = await connect({ servers: NATS_URL });
    const jsm = await jetstreamManager(nc);
    let consumer: Awaited<ReturnType<typeof startConsumer>> | null = null;
    let indexer: Awaited<ReturnType<typeof startIndexer>> | null = null;
    try {
      consumer = await startConsumer(config);
      indexer = await startIndexer(config);
      await new Activity(chain, 1).run(20);
      await until('all delivered', async () => {
        const n = await counts(db.url);
        return n.events > 0 && n.outbox === 0 && n.inbox === n.events;
      });
      expect(consumer.nudges.n).toBeGreaterThan(0); // claims and reports nudge the settler's timers

      // redelivery: the same messages again are deduplicated by the stream and, in any case, by the inbox
      await republishAll(db.url);
      await until('republished', async () => (await counts(db.url)).outbox === 0);
      const n1 = await counts(db.url);
      expect(n1.inbox).toBe(n1.events);
      expect((await jsm.streams.info(namespace.toUpperCase())).state.messages).toBe(n1.events);

      // consumer down: the stream keeps the messages; the consumer gets them all when it comes back
      await consumer.app.close();
      consumer = null;
      await new Activity(chain, 2).run(10);
      await until('published while the consumer is down', async () => {
        const n = await counts(db.url);
        return n.events > n1.events && n.outbox === 0;
      });
      expect((await counts(db.url)).inbox).toBe(n1.events);
      consumer = await startConsumer(config);
      await until('caught up after the outage', async () => {
        const n = await counts(db.url);
        return n.inbox === n.events;
      });
    } finally {
      await indexer?.close();
      await consumer?.app.close();
      await jsm.streams.delete(namespace.toUpperCase()).catch(() => undefined);
      await nc.close();
    }
  });

  it('default TCP transport: events wait in the outbox while the consumer is down, then arrive once; reorgs send removal notices', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const base = indexerConfig(chain, db.url);
    const config = parseConfig({ ...base, bus: { ...base.bus, natsUrl: undefined, settlerPort: await freePort(), ackTimeoutMs: 1000 } });
    const indexer = await startIndexer(config);
    let consumer: Awaited<ReturnType<typeof startConsumer>> | null = null;
    try {
      const activity = new Activity(chain, 3);
      await activity.run(15);
      const head = await chain.head();
      await until('indexed with no consumer', () => indexer.service.status.indexedBlock === head);
      const waiting = await counts(db.url);
      expect(waiting.outbox).toBe(waiting.events); // nothing lost, nothing delivered yet
      expect(waiting.inbox).toBe(0);

      consumer = await startConsumer(config);
      await until(
        'delivered after the consumer came up',
        async () => {
          const n = await counts(db.url);
          return n.outbox === 0 && n.inbox === n.events;
        },
        30_000,
      );

      await republishAll(db.url);
      await until('republished', async () => (await counts(db.url)).outbox === 0, 30_000);
      const n1 = await counts(db.url);
      expect(n1.inbox).toBe(n1.events);

      // a reorg undoes published events: consumers hear of each removal
      await reorg(chain, activity, 4, 2);
      const head2 = await chain.head();
      await until('re-indexed', () => indexer.service.status.indexedBlock === head2 && indexer.service.status.reorgs > 0);
      await until('removals delivered', async () => (await counts(db.url)).outbox === 0, 30_000);
      const n2 = await counts(db.url);
      expect(n2.removed).toBeGreaterThan(0);
      expect(n2.inbox).toBe(n1.inbox + (n2.events - (n1.events - n2.removed))); // every new event once
    } finally {
      await indexer.close();
      await consumer?.app.close();
    }
  });
});
