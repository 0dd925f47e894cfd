import { type DynamicModule, Global, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { createDataSource } from './data-source.js';
import { AuthRepository } from './auth/auth.repository.js';
import { CredentialRepository } from './credentials/credential.repository.js';
import { CheckpointRepository } from './checkpoints/checkpoint.repository.js';
import { GovernanceRepository } from './governance/governance.repository.js';
import { InboxRepository } from './bus-inbox/inbox.repository.js';
import { LedgerRepository } from './ledger/ledger.repository.js';
import { RoleRepository } from './auth/role.repository.js';
import { StudyRepository } from './studies/study.repository.js';
import { AccessLogRepository } from './access-log/access-log.repository.js';
import { RoRepository } from './ro/ro.repository.js';
import { StudyVaultRepository } from './studies/study-vault.repository.js';
import { RateLimitRepository } from './rate-limits/rate-limit.repository.js';
import { RelayOutboxRepository } from './relay/relay-outbox.repository.js';
import { StudyFeedRepository } from './studies/study-feed.repository.js';
import { TreasuryRepository } from './treasury/treasury.repository.js';
import { ExchangeRepository } from './exchange/exchange.repository.js';
import { LeasePackageRepository } from './lease-packages/lease-package.repository.js';
import { ExchangeAlertsRepository } from './exchange/exchange-alerts.repository.js';
import { StudyManifestRepository } from './storage/study-manifest.repository.js';
import { RoAgentRepository } from './exchange/ro-agent.repository.js';

const repositories = [
  AuthRepository,
  CheckpointRepository,
  LedgerRepository,
  RoleRepository,
  StudyRepository,
  RoRepository,
  StudyVaultRepository,
  AccessLogRepository,
  CredentialRepository,
  GovernanceRepository,
  InboxRepository,
  RateLimitRepository,
  RelayOutboxRepository,
  StudyFeedRepository,
  TreasuryRepository,
  ExchangeRepository,
  LeasePackageRepository,
  ExchangeAlertsRepository,
  StudyManifestRepository,
  RoAgentRepository,
];

/**
 * Closes the pool when the app shuts down. Safe to do here: Nest runs onApplicationShutdown from the root module
 * outwards and global modules (this one) last, so every service that still writes on shutdown (the indexer releasing
 * its writer lock, the settler's and the API's loops) has finished by then.
 */
@Injectable()
class DataSourceCloser implements OnApplicationShutdown {
  constructor(private readonly db: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.db.isInitialized) await this.db.destroy();
  }
}

@Global()
@Module({})
export class DbModule {
  /**
   * `work`: 'request' (the API: every query bounded by dependencyTimeoutMs, so a request answers in time) or
   * 'background' (the indexer's and the worker's passes: larger batches, bounded by backgroundQueryTimeoutMs).
   */
  static forRoot(applicationName: string, work: 'request' | 'background' = 'request'): DynamicModule {
    return {
      module: DbModule,
      providers: [
        {
          provide: DataSource,
          inject: [APP_CONFIG],
          useFactory: async (config: AppConfig) =>
            createDataSource(config.databaseUrl, {
              applicationName,
              timeouts: {
                connectMs: config.dependencyTimeoutMs,
                queryMs: work === 'request' ? config.dependencyTimeoutMs : config.backgroundQueryTimeoutMs,
              },
            }).initialize(),
        },
        ...repositories,
        DataSourceCloser,
      ],
      exports: [DataSource, ...repositories],
    };
  }
}
