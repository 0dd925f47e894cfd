import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { busServerOptions, busServerProbe } from '#bus';
import { AppLogger, configOrExit, stopOnSignalOrParentExit } from '#config';
import { startSettlerHealth } from './health.js';
import { SettlerModule } from './settler.module.js';

const config = configOrExit('settler');
// every level, as Nest's default logger wrote them before
const logger = new AppLogger('settler', { levels: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] });
const bus = busServerOptions(config, 'settler');
const app = await NestFactory.createMicroservice<MicroserviceOptions>(SettlerModule.forRoot(config), { ...bus, logger });
await app.listen();
const health = await startSettlerHealth(app, config, busServerProbe(bus));
new Logger('Settler').log(`health on ${health.url}/health, readiness on ${health.url}/ready, metrics on ${health.url}/metrics`);
// the current send and each loop's pass finish first (their onApplicationShutdown), then the pools close
stopOnSignalOrParentExit(app, 30_000);
