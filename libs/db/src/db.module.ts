import { type DynamicModule, Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/src/index.js';
import { createDataSource } from './data-source.js';
import { AuthRepository } from './repositories/auth.repository.js';
import { CredentialRepository } from './repositories/credential.repository.js';
import { EventStore } from './repositories/event-store.js';
import { GovernanceRepository } from './repositories/governance.repository.js';
import { InboxRepository } from './repositories/inbox.repository.js';
import { LedgerRepository } from './repositories/ledger.repository.js';
import { RoleRepository } from './repositories/role.repository.js';
import { StudyRepository } from './repositories/study.repository.js';
import { AccessLogRepository } from './repositories/access-log.repository.js';
import { RoRepository } from './repositories/ro.repository.js';
import { StudyVaultRepository } from './repositories/study-vault.repository.js';
import { RateLimitRepository } from './repositories/rate-limit.repository.js';
import { RelayOutboxRepository } from './repositories/relay-outbox.repository.js';
import { StudyFeedRepository } from './repositories/study-feed.repository.js';
import { TreasuryRepository } from './repositories/treasury.repository.js';

const repositories = [
  AuthRepository, EventStore, LedgerRepository, RoleRepository, StudyRepository,
  RoRepository, StudyVaultRepository, AccessLogRepository, CredentialRepository, GovernanceRepository, InboxRepository,
  RateLimitRepository, RelayOutboxRepository, StudyFeedRepository,
  TreasuryRepository,
];

@Global()
@Module({})
export class DbModule {
  static forRoot(applicationName: string): DynamicModule {
    return {
      module: DbModule,
      providers: [
        {
          provide: DataSource,
          inject: [APP_CONFIG],
          useFactory: async (config: AppConfig) => createDataSource(config.databaseUrl, { applicationName }).initialize(),
        },
        ...repositories,
      ],
      exports: [DataSource, ...repositories],
    };
  }
}
