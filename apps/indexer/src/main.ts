import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigError, configFromEnv, exitWithParent } from '#config';
import { IndexerModule } from './indexer.module.js';

// one failing request must never end the indexer: anything that escapes is logged, the loops go on
process.on('unhandledRejection', (e) => console.error(`[indexer] unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`));

let config;
try {
  config = configFromEnv();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`[indexer] ${e.message}`);
  process.exit(2);
}
const app = await NestFactory.createApplicationContext(IndexerModule.forRoot(config));
app.enableShutdownHooks();
exitWithParent(app);
