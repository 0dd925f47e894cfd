import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { busServerOptions } from '../../../libs/bus/src/index.js';
import { configFromEnv } from '../../../libs/config/src/index.js';
import { exitWithParent } from '../../../libs/config/src/process.js';
import { SettlerModule } from './settler.module.js';

const config = configFromEnv();
const app = await NestFactory.createMicroservice<MicroserviceOptions>(SettlerModule.forRoot(config), busServerOptions(config, 'settler'));
app.enableShutdownHooks();
await app.listen();
exitWithParent(app);
