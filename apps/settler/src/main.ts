import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { busServerOptions } from '#bus';
import { configFromEnv, exitWithParent } from '#config';
import { startSettlerHealth } from './health.js';
import { SettlerModule } from './settler.module.js';

const config = configFromEnv();
const app = await NestFactory.createMicroservice<MicroserviceOptions>(SettlerModule.forRoot(config), busServerOptions(config, 'settler'));
app.enableShutdownHooks();
await app.listen();
const health = await startSettlerHealth(app, config);
new Logger('Settler').log(`health on ${health.url}/health, readiness on ${health.url}/ready`);
exitWithParent(app);
