import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/index.js';
import { ChainModule } from '../chain/index.js';
import { LiveResolver } from './live.resolver.js';
import { StudyFeed } from './study-feed.service.js';

/** Live worklist events over graphql-ws subscriptions. */
@Module({ imports: [ChainModule, AuthModule], providers: [StudyFeed, LiveResolver], exports: [StudyFeed] })
export class LiveModule {}
