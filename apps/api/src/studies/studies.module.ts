import { Module } from '@nestjs/common';
import { ChainModule } from '../chain/index.js';
import { IndexerStatusModule } from '../indexer/index.js';
import { RelayModule } from '../relay/index.js';
import { RoModule } from '../ro/index.js';
import { StudiesResolver } from './studies.resolver.js';
import { StudiesService } from './studies.service.js';

/** A radiologist's worklist, studies, claims and reports, and the relaying of users' signed transactions. */
@Module({ imports: [ChainModule, IndexerStatusModule, RelayModule, RoModule], providers: [StudiesService, StudiesResolver] })
export class StudiesModule {}
