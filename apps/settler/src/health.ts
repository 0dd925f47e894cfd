import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type AppConfig, runChecks, serveHealth } from '#config';
import { createProvider } from '#chain';

/**
 * The worker's `/health` and `/ready` (it has no HTTP server of its own: it listens on the bus). Liveness: the
 * process answers. Readiness: Postgres (the outbox, the due work) and the chain node (every send) each answer within
 * the dependency deadline. Started by main.ts only, so tests that run several workers in one process do not
 * compete for the port.
 */
export async function startSettlerHealth(
  app: INestApplicationContext,
  config: AppConfig,
): Promise<{ url: string; close(): Promise<void> }> {
  const db = app.get(DataSource);
  const provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
  const { server, url } = await serveHealth(config.settler.healthHost, config.settler.healthPort, {
    live: async () => ({ ok: true }),
    ready: () => runChecks({ postgres: () => db.query('SELECT 1'), chain: () => provider.getBlockNumber() }, config.dependencyTimeoutMs),
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
