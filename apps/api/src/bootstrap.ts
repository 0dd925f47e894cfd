import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type AppConfig, type AppLogger } from '#config';
import { ApiModule } from './app.module.js';
import { AuthService } from './auth/index.js';
import { graphqlBodyReader, guardServer, IntrospectionCache, RequestLimiter, trustFunction } from './limits/index.js';

/**
 * The root mutations whose arguments carry bytes (base64 ciphertext): the only requests admitted with a body
 * larger than API_MAX_REQUEST_BYTES (see limits/request-body.ts).
 */
export const UPLOAD_FIELDS = ['uploadStudyPayload', 'submitEncryptedReport'] as const;

export async function createApiApp(config: AppConfig, options: { logger?: AppLogger } = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    logger: options.logger ?? ['error', 'warn', 'log'],
  });
  // first, so that every line written while a request is handled carries its id
  if (options.logger) app.use(options.logger.httpMiddleware());
  // GraphQL bodies: small, except byte uploads by a signed-in account (read before Nest's JSON parser, which then
  // skips them); every other JSON body has the small limit too
  const auth = app.get(AuthService);
  const introspection = app.get(IntrospectionCache);
  const trust = trustFunction(config.api.trustProxy);
  // first of all, ahead of Express: a client past its in-memory limits is refused before any of its body is read
  guardServer(
    app.getHttpServer(),
    new RequestLimiter({
      address: { inFlight: config.api.addressInFlight, burst: config.api.addressBurst, perSecond: config.api.addressPerSecond },
      token: { inFlight: config.api.tokenInFlight, burst: config.api.tokenBurst, perSecond: config.api.tokenPerSecond },
      maxLanes: config.api.limiterMaxLanes,
    }),
    trust,
  );
  app.use(
    graphqlBodyReader({
      maxRequestBytes: config.api.maxRequestBytes,
      maxUploadBytes: config.api.maxUploadBytes,
      maxTokens: config.api.maxTokens,
      maxRootFields: config.api.maxRootFields,
      uploadFields: UPLOAD_FIELDS,
      mayUpload: async (authorization) => (await auth.authenticate(authorization)) !== null,
      storedAnswer: (body) => introspection.answer(body),
    }),
  );
  app.useBodyParser('json', { limit: config.api.maxRequestBytes });
  // req.ip, the key of the limits on calls without a session: the TCP peer unless API_TRUST_PROXY names proxies
  app.set('trust proxy', trust);
  return app;
}
