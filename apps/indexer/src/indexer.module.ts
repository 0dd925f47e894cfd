import { DynamicModule, Module } from '@nestjs/common';
import { type AppConfig, ConfigModule } from '#config';
import { BusModule } from '#bus';
import { DbModule } from '#db';
import { IndexerService } from './indexer.service.js';
import { IndexerPipeline } from './pipeline.js';
import { EventStore } from './store/event-store.js';

@Module({})
export class IndexerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: IndexerModule,
      imports: [ConfigModule.forRoot(config), DbModule.forRoot('openread-indexer', 'background'), BusModule.forRoot()],
      // the event store is the indexer's own: no other app writes the chain's projections
      providers: [EventStore, IndexerPipeline, IndexerService],
      exports: [EventStore, IndexerPipeline, IndexerService],
    };
  }
}
