import { Logger as NestLogger } from '@nestjs/common';
import { DataSource, type Logger } from 'typeorm';
import { RepeatLog } from '#config';
import { migrations } from '#migrations';
import { isDatabaseUnavailable } from './unavailable.js';

export interface DbTimeouts {
  /** connecting, and waiting for a pooled connection when all are busy, ms */
  connectMs: number;
  /**
   * one query, ms: both the server's `statement_timeout` (a slow query is cancelled) and the client's own read
   * timeout (a server that does not answer at all, paused or cut off by a partition, fails the query too)
   */
  queryMs: number;
}

/** The one way to make a DataSource: Postgres, explicit migrations, never `synchronize`. */
export function createDataSource(
  url: string,
  opts: { poolSize?: number; applicationName?: string; timeouts?: DbTimeouts } = {},
): DataSource {
  const t = opts.timeouts;
  return new DataSource({
    type: 'postgres',
    url,
    migrations,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    logger: new ParameterFreeLogger(),
    poolSize: opts.poolSize ?? 10,
    applicationName: opts.applicationName ?? 'openread',
    // pg's connectionTimeoutMillis bounds both a new connection and the wait for a free one in the pool
    connectTimeoutMS: t?.connectMs,
    extra: {
      keepAlive: true,
      ...(t ? { statement_timeout: t.queryMs, query_timeout: t.queryMs + 250 } : {}),
    },
  });
}

export async function runMigrations(url: string): Promise<string[]> {
  const ds = createDataSource(url, { poolSize: 1, applicationName: 'openread-migrate' });
  await ds.initialize();
  try {
    const ran = await ds.runMigrations({ transaction: 'each' });
    return ran.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

/**
 * Logs failed queries WITHOUT their parameters: TypeORM's default logger prints them, and parameters carry
 * personal data (NPI, licence numbers of credential applications), which must never reach the logs.
 * While Postgres is unreachable every query fails the same way: that is logged once per kind of failure and
 * interval (RepeatLog), not once per query.
 */
class ParameterFreeLogger implements Logger {
  private readonly logger = new NestLogger('Database');
  private readonly outage = new RepeatLog(this.logger);
  logQuery(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.logger.log(message);
  }
  logQueryError(error: string | Error, query: string): void {
    const err = error as Error & { code?: string; constraint?: string };
    if (isDatabaseUnavailable(error)) {
      this.outage.error(
        `database unavailable: ${String(err.message ?? error)
          .split('\n')[0]
          .slice(0, 200)}`,
      );
      return;
    }
    const what = [err.code && `code ${err.code}`, err.constraint && `constraint ${err.constraint}`].filter(Boolean).join(', ');
    this.logger.error(`query failed (${what || 'no code'}): ${query.replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  log(): void {}
}
