import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import type { GraphQLError as GraphQLErrorType } from 'graphql';
import { createRequire } from 'node:module';
import type { IncomingMessage } from 'node:http';
import { type AppConfig, ConfigModule, introspectionOn } from '#config';
import { DbModule } from '#db';
import { AuthModule } from './auth/index.js';
import { BillingModule } from './billing/index.js';
import { ChainModule } from './chain/index.js';
import { formatError } from './common/errors.js';
import { httpSubscriptionsPlugin } from './common/http-subscriptions-plugin.js';
import { unavailablePlugin } from './common/unavailable-plugin.js';
import { UnavailableInterceptor } from './common/unavailable.interceptor.js';
import { JSONObject } from './common/graphql/index.js';
import { CredentialsModule } from './credentials/index.js';
import { ExchangeModule } from './exchange/index.js';
import { GovernanceModule } from './governance/index.js';
import { HealthModule } from './health/index.js';
import { IndexerStatusModule } from './indexer/index.js';
import { IntrospectionCache, LimitsModule, addressOf, queryLimits, trustFunction } from './limits/index.js';
import { LiveModule } from './live/index.js';
import { MetricsModule } from './metrics/index.js';
import { RelayModule } from './relay/index.js';
import { RoModule } from './ro/index.js';
import { StudiesModule } from './studies/index.js';
import { StorageModule } from './storage/index.js';
import { TreasuryModule } from './treasury/index.js';

/**
 * The API: configuration, database and the GraphQL server, plus one module per feature. Each feature module
 * declares its own providers and exports what other features use; a feature that grants roles registers its
 * @ProvidesRoles() provider itself (AuthModule finds them).
 */
/**
 * graphql as Node loads it, the copy Nest built the schema with and graphql-ws checks errors against (`instanceof`):
 * under vitest a source file's `import 'graphql'` may get the package's other (.mjs) build, whose validate refuses a
 * schema of the first ("from another module or realm").
 */
const { GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate } = createRequire(import.meta.url)(
  'graphql',
) as typeof import('graphql');

/**
 * An error graphql-js answers before execution starts (no data, no path: variable values that do not coerce to their
 * types) carries no code; Apollo marks it BAD_USER_INPUT over HTTP. The same over graphql-ws, so formatError answers
 * BAD_INPUT there too, not INTERNAL.
 */
function requestErrorCoded(result: { data?: unknown }, e: GraphQLErrorType) {
  const formatted = e.toJSON();
  if (result.data !== undefined || e.path || formatted.extensions?.code) return formatted;
  return { ...formatted, extensions: { ...formatted.extensions, code: 'BAD_USER_INPUT' } };
}

@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    const trust = trustFunction(config.api.trustProxy);
    const limits = queryLimits({
      maxDepth: config.api.maxQueryDepth,
      maxComplexity: config.api.maxQueryComplexity,
      maxRootFields: config.api.maxRootFields,
    });
    const maxTokens = config.api.maxTokens;
    // Apollo adds this rule over HTTP when introspection is off; graphql-ws gets it here
    const closedIntrospection = introspectionOn(config) ? [] : [NoSchemaIntrospectionCustomRule];
    // one per app: introspection answers of this app's schema
    const introspection = new IntrospectionCache();
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
              // the same parser limit and validation rules as over HTTP (graphql-ws' defaults have neither); a
              // document the parser refuses is answered as an error of that operation, not by closing the socket
              onSubscribe: (_c: unknown, _i: unknown, payload: { query: string }) => {
                try {
                  parse(payload.query, { maxTokens, noLocation: true });
                } catch (e) {
                  return [new GraphQLError((e as Error).message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
                }
                return undefined;
              },
              parse: (source: string) => parse(source, { maxTokens }),
              validate: (schema: Parameters<typeof validate>[0], document: Parameters<typeof validate>[1]) => {
                // the limits first and alone: graphql's overlapping-fields rule is quadratic in a wide document
                const early = validate(schema, document, [limits]);
                return (early.length ? early : validate(schema, document, [...specifiedRules, ...closedIntrospection, limits])).map(
                  (e) =>
                    new GraphQLError(e.message, {
                      nodes: e.nodes,
                      extensions: { ...e.extensions, code: e.extensions.code ?? 'GRAPHQL_VALIDATION_FAILED' },
                    }),
                );
              },
              // the same closed error codes as over HTTP (Apollo's formatError does not see WebSocket traffic)
              // graphql-ws 6: onNext(ctx, id, payload, args, result), onError(ctx, id, payload, errors)
              onNext: (
                _c: unknown,
                _i: unknown,
                _p: unknown,
                _a: unknown,
                result: { data?: unknown; errors?: readonly GraphQLErrorType[] },
              ) => (result.errors ? { ...result, errors: result.errors.map((e) => formatError(requestErrorCoded(result, e), e)) } : result),
              onError: (_c: unknown, _i: unknown, _p: unknown, errors: readonly GraphQLErrorType[]) =>
                errors.map((e) => formatError(e.toJSON(), e)),
            } as never,
          },
          formatError,
          plugins: [unavailablePlugin, introspection.plugin, httpSubscriptionsPlugin],
          // Nest's plugin would reset every answer with data to 200, the 503 of unavailablePlugin included; our
          // formatError already keeps every other error a 200
          preserveHttpStatusForExecutionErrors: false,
          includeStacktraceInErrorResponses: false,
          introspection: introspectionOn(config),
          validationRules: [limits],
          parseOptions: { maxTokens },
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
        ExchangeModule,
        LiveModule,
        MetricsModule,
        HealthModule,
        StorageModule,
      ],
      // the JSONObject scalar is shared by several features' models; one registration serves the whole schema
      providers: [
        JSONObject,
        { provide: APP_INTERCEPTOR, useClass: UnavailableInterceptor },
        { provide: IntrospectionCache, useValue: introspection },
      ],
    };
  }
}
