import { DynamicModule, Module } from '@nestjs/common';
import { type AppConfig, ConfigModule } from '#config';
import { DbModule } from '#db';
import { CredentialWatchService } from './credential-watch.service.js';
import { SettlerController } from './settler.controller.js';
import { SettlerService } from './settler.service.js';
import { AccessLogAnchorService } from './access-log-anchor.service.js';

@Module({})
export class SettlerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: SettlerModule,
      imports: [ConfigModule.forRoot(config), DbModule.forRoot('openread-settler')],
      controllers: [SettlerController],
      providers: [SettlerService, AccessLogAnchorService, CredentialWatchService],
      exports: [SettlerService, AccessLogAnchorService],
    };
  }
}
