import { DynamicModule, Module } from '@nestjs/common';
import { type AppConfig, ConfigModule } from '#config';
import { BusModule } from '#bus';
import { DbModule } from '#db';
import { IndexerService } from './indexer.service.js';
import { IndexerPipeline } from './pipeline.js';

@Module({})
export class IndexerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: IndexerModule,
      imports: [ConfigModule.forRoot(config), DbModule.forRoot('openread-indexer'), BusModule.forRoot()],
      providers: [IndexerPipeline, IndexerService],
      exports: [IndexerPipeline, IndexerService],
    };
  }
}
