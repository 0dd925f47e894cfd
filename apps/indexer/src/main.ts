import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { configFromEnv } from '../../../libs/config/src/index.js';
import { exitWithParent } from '../../../libs/config/src/process.js';
import { IndexerModule } from './indexer.module.js';

// one failing request must never end the indexer: anything that escapes is logged, the loops go on
process.on('unhandledRejection', (e) => console.error(`[indexer] unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`));

const app = await NestFactory.createApplicationContext(IndexerModule.forRoot(configFromEnv()));
app.enableShutdownHooks();
exitWithParent(app);
