import { DataSource } from 'typeorm';
import { migrations } from '../../../migrations/index.js';

/** The one way to make a DataSource: Postgres, explicit migrations, never `synchronize`. */
export function createDataSource(url: string, opts: { poolSize?: number; applicationName?: string } = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    migrations,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    logging: ['error'],
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
