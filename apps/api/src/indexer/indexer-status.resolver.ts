import { Query, Resolver } from '@nestjs/graphql';
import { Public } from '../common/access.js';
import { FinalityService, IndexerStatus } from './finality.js';

@Resolver()
export class IndexerStatusResolver {
  constructor(private readonly finality: FinalityService) {}

  @Public()
  @Query(() => IndexerStatus, { description: 'Indexer position, finality and health (public).' })
  async indexerStatus(): Promise<IndexerStatus> {
    return this.finality.status();
  }
}
