import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type AppConfig, runChecks, serveHealth } from '#config';
import { createProvider } from '#chain';
import { RelayOutboxRepository } from '#db';
import { AccessLogAnchorService } from './access-log-anchor.service.js';
import { settlerMetrics } from './metrics.js';
import { TransactionSender } from './sender.service.js';

/**
 * The worker's `/health`, `/ready` and `/metrics` (it has no HTTP server of its own: it listens on the bus). Liveness: the
 * process answers. Readiness: Postgres (the outbox, the due work), the chain node (every send) and, with NATS, its
 * JetStream consumer (the indexer's events) each answer within the dependency deadline, no sending key is stalled (transactions in flight and its mined nonce not moving: an
 * operator must look), and the last access-log audit found the log matching its on-chain anchors (tampering is an
 * alert, not something a restart fixes). Metrics: see metrics.ts. Started by main.ts only, so tests that run several workers in one process do not
 * compete for the port.
 */
export async function startSettlerHealth(
  app: INestApplicationContext,
  config: AppConfig,
  /** the bus listener's check (JetStream: its durable consumer answers); none over TCP, where the worker is the server */
  busProbe: (() => Promise<void>) | null = null,
): Promise<{ url: string; close(): Promise<void> }> {
  const db = app.get(DataSource);
  const sender = app.get(TransactionSender);
  const anchor = app.get(AccessLogAnchorService);
  const provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
  const outbox = app.get(RelayOutboxRepository);
  const metrics = settlerMetrics({
    outbox: () => outbox.queueStats(config.chainId),
    lanes: () => sender.health(),
    spendLimitWei: config.relay.spendLimitWei,
    timeoutMs: config.dependencyTimeoutMs,
  });
  const { server, url } = await serveHealth(config.settler.healthHost, config.settler.healthPort, {
    live: async () => ({ ok: true }),
    ready: () =>
      runChecks(
        {
          postgres: () => db.query('SELECT 1'),
          chain: () => provider.getBlockNumber(),
          ...(busProbe ? { bus: busProbe } : {}),
          sender: async () => {
            const stalled = sender.health().filter((l) => l.stalled);
            if (stalled.length)
              throw new Error(`stalled: ${stalled.map((l) => `${l.address} (nonce ${l.minedNonce}, ${l.inFlight} in flight)`).join(', ')}`);
          },
          accessLogAudit: async () => {
            const audit = anchor.auditStatus();
            if (!audit.ok) throw new Error(`the access log no longer matches its anchors: ${audit.detail}`);
          },
        },
        config.dependencyTimeoutMs,
      ),
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.render() }),
  });
  // never what keeps the process alive: the bus listener is
  server.unref();
  return {
    url,
    close: async () => {
      provider.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
