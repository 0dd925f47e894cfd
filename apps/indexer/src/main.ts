import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { configOrExit, stopOnSignalOrParentExit } from '#config';
import { IndexerModule } from './indexer.module.js';

// one failing request must never end the indexer: anything that escapes is logged, the loops go on
process.on('unhandledRejection', (e) => console.error(`[indexer] unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`));

const config = configOrExit('indexer');
const app = await NestFactory.createApplicationContext(IndexerModule.forRoot(config));
// the batch in progress finishes (or rolls back) and the writer lock is released before the pools close
stopOnSignalOrParentExit(app, 30_000);
