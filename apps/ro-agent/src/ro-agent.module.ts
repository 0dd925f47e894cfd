import { DynamicModule, Module } from '@nestjs/common';
import { type AppConfig, ConfigModule } from '#config';
import { DbModule } from '#db';
import { AgentService } from './agent.service.js';
import { KEY_SERVICE, type KeyService } from './keys.js';

/**
 * The RO agent app: a thin shell around RoAgent and ExpiredUseRecorder of #lease for one RO. `keys` is the RO's
 * KeyService (main.ts reads the key file before Nest starts, so a bad key file exits 2 with its reason). It writes
 * lease packages to the platform's database and reads its access log; the RO's keys stay in this process.
 */
@Module({})
export class RoAgentModule {
  static forRoot(config: AppConfig, keys: KeyService): DynamicModule {
    return {
      module: RoAgentModule,
      imports: [ConfigModule.forRoot(config), DbModule.forRoot('openread-ro-agent', 'background')],
      providers: [{ provide: KEY_SERVICE, useValue: keys }, AgentService],
      exports: [AgentService],
    };
  }
}
