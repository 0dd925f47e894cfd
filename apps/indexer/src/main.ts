import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { configFromEnv } from '../../../libs/config/src/index.js';
import { exitWithParent } from '../../../libs/config/src/process.js';
import { IndexerModule } from './indexer.module.js';

const app = await NestFactory.createApplicationContext(IndexerModule.forRoot(configFromEnv()));
app.enableShutdownHooks();
exitWithParent(app);
