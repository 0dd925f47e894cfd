import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { type AppConfig, ConfigModule } from '../../../libs/config/src/index.js';
import { DbModule } from '../../../libs/db/src/index.js';
import { AuthGuard } from './auth/auth.guard.js';
import { AuthResolver } from './auth/auth.resolver.js';
import { AuthService } from './auth/auth.service.js';
import { RoleService } from './auth/roles.js';
import { ChainService } from './chain/chain.service.js';
import { formatError } from './common/errors.js';
import { CredentialsResolver } from './credentials/credentials.resolver.js';
import { CredentialsService } from './credentials/credentials.service.js';
import { GovernanceResolver } from './governance/governance.resolver.js';
import { GovernanceService } from './governance/governance.service.js';
import { HealthController } from './health.controller.js';
import { FinalityService, IndexerStatusResolver } from './indexer/finality.js';
import { LedgerResolver } from './ledger/ledger.resolver.js';
import { StudiesResolver } from './studies/studies.resolver.js';
import { LeaseService } from './ro/lease.service.js';
import { PostingService } from './ro/posting.service.js';
import { RoAccessService } from './ro/ro-access.service.js';
import { RoResolver } from './ro/ro.resolver.js';
import { StudyVaultResolver } from './ro/study-vault.resolver.js';
import { BillingResolver } from './billing/billing.resolver.js';
import { ReconciliationService } from './billing/reconciliation.service.js';

@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
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
          context: ({ req }: { req: unknown }) => ({ req }),
          formatError,
          includeStacktraceInErrorResponses: false,
          introspection: true,
        }),
      ],
      controllers: [HealthController],
      providers: [
        AuthService,
        RoleService,
        ChainService,
        AuthResolver,
        StudiesResolver,
        LedgerResolver,
        RoAccessService,
        PostingService,
        LeaseService,
        RoResolver,
        StudyVaultResolver,
        CredentialsService,
        CredentialsResolver,
        ReconciliationService,
        BillingResolver,
        GovernanceService,
        GovernanceResolver,
        FinalityService,
        IndexerStatusResolver,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
