import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import type { GraphQLError } from 'graphql';
import type { IncomingMessage } from 'node:http';
import { type AppConfig, ConfigModule } from '#config';
import { DbModule } from '#db';
import { AuthGuard } from './auth/auth.guard.js';
import { AuthResolver } from './auth/auth.resolver.js';
import { AuthService } from './auth/auth.service.js';
import { RoleService, roleProviders } from './auth/roles.js';
import { ChainService } from './chain/chain.service.js';
import { formatError } from './common/errors.js';
import { JSONObject } from './common/typed-data.js';
import { CredentialsResolver } from './credentials/credentials.resolver.js';
import { CredentialsService } from './credentials/credentials.service.js';
import { GovernanceResolver } from './governance/governance.resolver.js';
import { GovernanceRoles } from './governance/governance.roles.js';
import { GovernanceService } from './governance/governance.service.js';
import { HealthController } from './health.controller.js';
import { FinalityService, IndexerStatusResolver } from './indexer/finality.js';
import { LedgerResolver } from './ledger/ledger.resolver.js';
import { addressOf, trustFunction } from './limits/client-address.js';
import { queryLimits } from './limits/query-limits.js';
import { RateLimitService } from './limits/rate-limit.service.js';
import { RelayService } from './relay/relay.service.js';
import { LiveResolver } from './live/live.resolver.js';
import { StudyFeed } from './live/study-feed.service.js';
import { TransactionOutbox } from './relay/outbox.service.js';
import { StudiesResolver } from './studies/studies.resolver.js';
import { LeaseService } from './ro/lease.service.js';
import { PostingService } from './ro/posting.service.js';
import { RoAccessService } from './ro/ro-access.service.js';
import { RoResolver } from './ro/ro.resolver.js';
import { RoFundsResolver } from './ro/ro-funds.resolver.js';
import { StudyVaultResolver } from './ro/study-vault.resolver.js';
import { BillingResolver } from './billing/billing.resolver.js';
import { ReconciliationService } from './billing/reconciliation.service.js';
import { TreasuryResolver } from './treasury/treasury.resolver.js';
import { TreasuryService } from './treasury/treasury.service.js';

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
                    headers: { authorization: typeof ctx.connectionParams?.authorization === 'string' ? ctx.connectionParams.authorization : undefined },
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
              onError: (_c: unknown, _i: unknown, _p: unknown, errors: readonly GraphQLError[]) => errors.map((e) => formatError(e.toJSON(), e)),
            } as never,
          },
          formatError,
          includeStacktraceInErrorResponses: false,
          introspection: true,
          validationRules: [queryLimits(config.api.maxQueryDepth, config.api.maxQueryComplexity)],
        }),
      ],
      controllers: [HealthController],
      providers: [
        AuthService,
        RoleService,
        // the features that grant roles beyond the indexed facts
        roleProviders(GovernanceRoles, TreasuryService),
        GovernanceRoles,
        ChainService,
        AuthResolver,
        StudiesResolver,
        LedgerResolver,
        RoAccessService,
        PostingService,
        LeaseService,
        RoResolver,
        RoFundsResolver,
        JSONObject,
        StudyVaultResolver,
        CredentialsService,
        CredentialsResolver,
        ReconciliationService,
        BillingResolver,
        GovernanceService,
        GovernanceResolver,
        RateLimitService,
        TransactionOutbox,
        RelayService,
        StudyFeed,
        LiveResolver,
        TreasuryService,
        TreasuryResolver,
        FinalityService,
        IndexerStatusResolver,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
