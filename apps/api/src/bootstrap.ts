import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type AppConfig } from '#config';
import { ApiModule } from './app.module.js';
import { trustFunction } from './limits/index.js';

export async function createApiApp(config: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), { logger: ['error', 'warn', 'log'] });
  // encrypted study payloads arrive base64 in GraphQL bodies (express' default limit is 100 kB)
  app.useBodyParser('json', { limit: config.api.maxRequestBytes });
  // req.ip, the key of the limits on calls without a session: the TCP peer unless API_TRUST_PROXY names proxies
  app.set('trust proxy', trustFunction(config.api.trustProxy));
  return app;
}
