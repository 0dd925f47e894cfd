import { Resolver, Subscription } from '@nestjs/graphql';
import { CurrentUser, Roles, type AuthUser } from '../common/access.js';
import { WorklistEvent } from './live.models.js';
import { StudyFeed } from './study-feed.service.js';

@Resolver()
export class LiveResolver {
  constructor(private readonly feed: StudyFeed) {}

  @Roles('RADIOLOGIST')
  @Subscription(() => WorklistEvent, {
    description:
      'Live changes to your worklist over graphql-ws (connectionParams: { authorization: "Bearer <token>" }): ' +
      'new claimable studies, bounty increases, studies taken by someone else.',
    resolve: (event: WorklistEvent) => event,
  })
  worklistEvents(@CurrentUser() user: AuthUser) {
    return this.feed.subscribe(user.address);
  }
}
