import { type DynamicModule, Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/src/index.js';
import { createDataSource } from './data-source.js';
import { AuthRepository } from './repositories/auth.repository.js';
import { EventStore } from './repositories/event-store.js';
import { InboxRepository } from './repositories/inbox.repository.js';
import { LedgerRepository } from './repositories/ledger.repository.js';
import { StudyRepository } from './repositories/study.repository.js';

const repositories = [AuthRepository, EventStore, InboxRepository, LedgerRepository, StudyRepository];

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
