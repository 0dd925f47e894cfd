import { Args, Context, Field, GraphQLISODateTime, Int, Mutation, ObjectType, Resolver } from '@nestjs/graphql';
import { Authenticated, type GqlContext, Public } from '../common/access.js';
import { AuthService } from './auth.service.js';

@ObjectType({ description: 'What the wallet needs to build an EIP-4361 message.' })
class SignInNonce {
  @Field() nonce: string;
  @Field(() => GraphQLISODateTime) expiresAt: Date;
  @Field({ description: 'the domain the message must name' }) domain: string;
  @Field({ description: 'the URI the message must name' }) uri: string;
  @Field(() => Int) chainId: number;
}

@ObjectType()
class Session {
  @Field({ description: 'send as Authorization: Bearer <token>' }) token: string;
  @Field() address: string;
  @Field(() => GraphQLISODateTime) expiresAt: Date;
}

@Resolver()
export class AuthResolver {
  constructor(private readonly auth: AuthService) {}

  @Public()
  @Mutation(() => SignInNonce, { description: 'A single-use nonce for Sign-In with Ethereum.' })
  nonce(): Promise<SignInNonce> {
    return this.auth.issueNonce();
  }

  @Public()
  @Mutation(() => Session, { description: 'Exchange a signed EIP-4361 message for a bearer token.' })
  login(@Context() ctx: GqlContext, @Args('message') message: string, @Args('signature') signature: string): Promise<Session> {
    return this.auth.login(message, signature, ctx.req.ip);
  }

  @Authenticated()
  @Mutation(() => Boolean, { description: 'End this session.' })
  async logout(@Context() ctx: GqlContext): Promise<boolean> {
    await this.auth.logout(ctx.req.headers.authorization);
    return true;
  }
}
