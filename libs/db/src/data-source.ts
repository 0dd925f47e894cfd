import { Logger as NestLogger } from '@nestjs/common';
import { DataSource, type Logger } from 'typeorm';
import { migrations } from '#migrations';

/** The one way to make a DataSource: Postgres, explicit migrations, never `synchronize`. */
export function createDataSource(url: string, opts: { poolSize?: number; applicationName?: string } = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    migrations,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    logger: new ParameterFreeLogger(),
    poolSize: opts.poolSize ?? 10,
    applicationName: opts.applicationName ?? 'openread',
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
 */
class ParameterFreeLogger implements Logger {
  private readonly logger = new NestLogger('Database');
  logQuery(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.logger.log(message);
  }
  logQueryError(error: string | Error, query: string): void {
    const err = error as Error & { code?: string; constraint?: string };
    const what = [err.code && `code ${err.code}`, err.constraint && `constraint ${err.constraint}`].filter(Boolean).join(', ');
    this.logger.error(`query failed (${what || 'no code'}): ${query.replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  log(): void {}
}
