import { Context, Resolver, Subscription } from '@nestjs/graphql';
import { CurrentUser, Roles, type AuthUser, type GqlContext } from '../common/access.js';
import { WorklistEvent } from './live.models.js';
import { StudyFeed } from './study-feed.service.js';

@Resolver()
export class LiveResolver {
  constructor(private readonly feed: StudyFeed) {}

  @Roles('RADIOLOGIST')
  @Subscription(() => WorklistEvent, {
    description:
      'Live changes to your worklist over graphql-ws (connectionParams: { authorization: "Bearer <token>" }): ' +
      'new claimable studies, bounty increases, studies taken by someone else. At most API_MAX_FEEDS_PER_ACCOUNT at once ' +
      '(RATE_LIMITED); a feed ends with UNAUTHENTICATED when its session is signed out or expires, FORBIDDEN when the ' +
      'credential is revoked.',
    resolve: (event: WorklistEvent) => event,
  })
  worklistEvents(@CurrentUser() user: AuthUser, @Context() ctx: GqlContext) {
    return this.feed.subscribe(user.address, ctx.req.headers?.authorization);
  }
}
