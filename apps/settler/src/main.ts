import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { busServerOptions } from '#bus';
import { configFromEnv, exitWithParent } from '#config';
import { SettlerModule } from './settler.module.js';

const config = configFromEnv();
const app = await NestFactory.createMicroservice<MicroserviceOptions>(SettlerModule.forRoot(config), busServerOptions(config, 'settler'));
app.enableShutdownHooks();
await app.listen();
exitWithParent(app);
