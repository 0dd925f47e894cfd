import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppLogger, configOrExit, stopOnSignalOrParentExit } from '#config';
import { IndexerModule } from './indexer.module.js';

// every level, as Nest's default logger wrote them before
const logger = new AppLogger('indexer', { levels: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] });
// one failing request must never end the indexer: anything that escapes is logged, the loops go on
process.on('unhandledRejection', (e) => logger.error(e instanceof Error ? e : String(e), 'unhandled rejection'));

const config = configOrExit('indexer');
const app = await NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger });
// the batch in progress finishes (or rolls back) and the writer lock is released before the pools close
stopOnSignalOrParentExit(app, 30_000);
