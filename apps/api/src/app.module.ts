import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import type { GraphQLError } from 'graphql';
import type { IncomingMessage } from 'node:http';
import { type AppConfig, ConfigModule } from '#config';
import { DbModule } from '#db';
import { AuthModule } from './auth/index.js';
import { BillingModule } from './billing/index.js';
import { ChainModule } from './chain/index.js';
import { formatError } from './common/errors.js';
import { unavailablePlugin } from './common/unavailable-plugin.js';
import { UnavailableInterceptor } from './common/unavailable.interceptor.js';
import { JSONObject } from './common/graphql/index.js';
import { CredentialsModule } from './credentials/index.js';
import { GovernanceModule } from './governance/index.js';
import { HealthModule } from './health/index.js';
import { IndexerStatusModule } from './indexer/index.js';
import { LimitsModule, addressOf, queryLimits, trustFunction } from './limits/index.js';
import { LiveModule } from './live/index.js';
import { RelayModule } from './relay/index.js';
import { RoModule } from './ro/index.js';
import { StudiesModule } from './studies/index.js';
import { TreasuryModule } from './treasury/index.js';

/**
 * The API: configuration, database and the GraphQL server, plus one module per feature. Each feature module
 * declares its own providers and exports what other features use; a feature that grants roles registers its
 * @ProvidesRoles() provider itself (AuthModule finds them).
 */
@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    const trust = trustFunction(config.api.trustProxy);
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        DbModule.forRoot('openread-api'),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          sortSchema: true,
          path: '/graphql',
          // HTTP: the request; graphql-ws: a request-like object carrying connectionParams.authorization and the
          // client address of the upgrade request (same trust-proxy rule as Express), so the guard authenticates
          // (and rate-limits) operations over the socket exactly like over HTTP
          context: (ctx: { req?: unknown; connectionParams?: { authorization?: unknown }; extra?: { request?: IncomingMessage } }) =>
            ctx.req
              ? { req: ctx.req }
              : {
                  req: {
                    headers: {
                      authorization:
                        typeof ctx.connectionParams?.authorization === 'string' ? ctx.connectionParams.authorization : undefined,
                    },
                    ip: ctx.extra?.request ? addressOf(ctx.extra.request, trust) : undefined,
                  },
                },
          subscriptions: {
            'graphql-ws': {
              path: '/graphql',
              // the same closed error codes as over HTTP (Apollo's formatError does not see WebSocket traffic)
              // graphql-ws 6: onNext(ctx, id, payload, args, result), onError(ctx, id, payload, errors)
              onNext: (_c: unknown, _i: unknown, _p: unknown, _a: unknown, result: { errors?: readonly GraphQLError[] }) =>
                result.errors ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e)) } : result,
              onError: (_c: unknown, _i: unknown, _p: unknown, errors: readonly GraphQLError[]) =>
                errors.map((e) => formatError(e.toJSON(), e)),
            } as never,
          },
          formatError,
          plugins: [unavailablePlugin],
          // Nest's plugin would reset every answer with data to 200, the 503 of unavailablePlugin included; our
          // formatError already keeps every other error a 200
          preserveHttpStatusForExecutionErrors: false,
          includeStacktraceInErrorResponses: false,
          introspection: true,
          validationRules: [queryLimits(config.api.maxQueryDepth, config.api.maxQueryComplexity)],
        }),
        ChainModule,
        LimitsModule,
        AuthModule,
        IndexerStatusModule,
        RelayModule,
        StudiesModule,
        RoModule,
        CredentialsModule,
        BillingModule,
        GovernanceModule,
        TreasuryModule,
        LiveModule,
        HealthModule,
      ],
      // the JSONObject scalar is shared by several features' models; one registration serves the whole schema
      providers: [JSONObject, { provide: APP_INTERCEPTOR, useClass: UnavailableInterceptor }],
    };
  }
}
