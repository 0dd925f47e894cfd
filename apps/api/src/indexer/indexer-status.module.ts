import { Module } from '@nestjs/common';
import { FinalityService } from './finality.js';
import { IndexerStatusResolver } from './indexer-status.resolver.js';

/** The indexer's position as the API sees it: finality of what it shows, and read-your-writes waits. */
@Module({ providers: [FinalityService, IndexerStatusResolver], exports: [FinalityService] })
export class IndexerStatusModule {}
