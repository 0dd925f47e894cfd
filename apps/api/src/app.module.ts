import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { type AppConfig, ConfigModule } from '../../../libs/config/src/index.js';
import { DbModule } from '../../../libs/db/src/index.js';
import { AuthGuard } from './auth/auth.guard.js';
import { AuthResolver } from './auth/auth.resolver.js';
import { AuthService } from './auth/auth.service.js';
import { ChainService } from './chain/chain.service.js';
import { formatError } from './common/errors.js';
import { HealthController } from './health.controller.js';
import { FinalityService, IndexerStatusResolver } from './indexer/finality.js';
import { LedgerResolver } from './ledger/ledger.resolver.js';
import { StudiesResolver } from './studies/studies.resolver.js';

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
        ChainService,
        AuthResolver,
        StudiesResolver,
        LedgerResolver,
        FinalityService,
        IndexerStatusResolver,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
