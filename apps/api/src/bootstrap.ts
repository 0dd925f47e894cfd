import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type AppConfig } from '../../../libs/config/src/index.js';
import { ApiModule } from './app.module.js';

export async function createApiApp(config: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create(ApiModule.forRoot(config), { logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  return app;
}
