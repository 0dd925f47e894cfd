import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { busServerOptions } from '#bus';
import { configOrExit, stopOnSignalOrParentExit } from '#config';
import { SettlerModule } from './settler.module.js';

const config = configOrExit('settler');
const app = await NestFactory.createMicroservice<MicroserviceOptions>(SettlerModule.forRoot(config), busServerOptions(config, 'settler'));
await app.listen();
// the current send and each loop's pass finish first (their onApplicationShutdown), then the pools close
stopOnSignalOrParentExit(app, 30_000);
