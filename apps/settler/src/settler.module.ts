import { DynamicModule, Module } from '@nestjs/common';
import { type AppConfig, ConfigModule } from '#config';
import { DbModule } from '#db';
import { CredentialWatchService } from './credential-watch.service.js';
import { PruneService } from './prune.service.js';
import { TransactionSender } from './sender.service.js';
import { SettlerController } from './settler.controller.js';
import { SettlerService } from './settler.service.js';
import { AccessLogAnchorService } from './access-log-anchor.service.js';

/** The worker app: the one transaction sender, the market's timers, anchoring, credential notices and pruning. */
@Module({})
export class SettlerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: SettlerModule,
      imports: [ConfigModule.forRoot(config), DbModule.forRoot('openread-settler', 'background')],
      controllers: [SettlerController],
      providers: [TransactionSender, SettlerService, AccessLogAnchorService, CredentialWatchService, PruneService],
      exports: [SettlerService, AccessLogAnchorService, PruneService, TransactionSender],
    };
  }
}
