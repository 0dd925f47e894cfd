import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { busServerOptions } from '#bus';
import { AppLogger, configOrExit, stopOnSignalOrParentExit } from '#config';
import { startSettlerHealth } from './health.js';
import { SettlerModule } from './settler.module.js';

const config = configOrExit('settler');
// every level, as Nest's default logger wrote them before
const logger = new AppLogger('settler', { levels: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] });
const app = await NestFactory.createMicroservice<MicroserviceOptions>(SettlerModule.forRoot(config), {
  ...busServerOptions(config, 'settler'),
  logger,
});
await app.listen();
const health = await startSettlerHealth(app, config);
new Logger('Settler').log(`health on ${health.url}/health, readiness on ${health.url}/ready, metrics on ${health.url}/metrics`);
// the current send and each loop's pass finish first (their onApplicationShutdown), then the pools close
stopOnSignalOrParentExit(app, 30_000);
