import { Args, Context, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Authenticated, CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { RoleService } from '../auth/index.js';
import { PreparedTransaction, toPrepared } from '../common/graphql/index.js';
import { parseAddress } from '../common/validation.js';
import {
  ApplicationDecision,
  Credential,
  CredentialApplication,
  CredentialApplicationInput,
  CredentialApplicationPage,
  Notification,
} from './credential.models.js';
import { CredentialsService } from './credentials.service.js';

@Resolver()
export class CredentialsResolver {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly roles: RoleService,
  ) {}

  @Authenticated()
  @Mutation(() => CredentialApplication, {
    description: 'Apply to be verified as a radiologist. Personal data stays off chain; one pending application at a time.',
  })
  async applyForCredential(
    @CurrentUser() user: AuthUser,
    @Args('input', { type: () => CredentialApplicationInput }) input: CredentialApplicationInput,
  ): Promise<CredentialApplication> {
    return CredentialApplication.from(await this.credentials.apply(user.address, input));
  }

  @Authenticated()
  @Query(() => [CredentialApplication], { description: 'Your credential applications, newest first.' })
  async myCredentialApplications(
    @CurrentUser() user: AuthUser,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
  ): Promise<CredentialApplication[]> {
    return (await this.credentials.applicationsOf(user.address, first)).map(CredentialApplication.from);
  }

  @Authenticated()
  @Query(() => CredentialApplication, { description: 'One application: its applicant and verifiers only.' })
  async credentialApplication(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<CredentialApplication> {
    ctx.req.roles ??= await this.roles.rolesOf(user.address);
    return CredentialApplication.from(await this.credentials.view(user.address, ctx.req.roles.has('VERIFIER'), id));
  }

  @Authenticated()
  @Query(() => Credential, { nullable: true, description: 'Your on-chain credential as indexed (null if never attested).' })
  async myCredential(@CurrentUser() user: AuthUser): Promise<Credential | null> {
    const c = await this.credentials.credentialOf(user.address);
    return c && { ...c, expiresAt: new Date(c.expiresAt * 1000) };
  }

  @Authenticated()
  @Query(() => [Notification], { description: 'Notices for you (credential expiring or lapsed), newest first.' })
  async myNotifications(
    @CurrentUser() user: AuthUser,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
  ): Promise<Notification[]> {
    return (await this.credentials.notificationsOf(user.address, first)).map(Notification.from);
  }

  @Roles('VERIFIER')
  @Query(() => CredentialApplicationPage, { description: 'Applications waiting for review, oldest first. Keyset-paginated.' })
  async pendingCredentialApplications(
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<CredentialApplicationPage> {
    const { items, hasNextPage, endCursor } = await this.credentials.pending(first, after);
    return { items: items.map(CredentialApplication.from), pageInfo: { hasNextPage, endCursor } };
  }

  @Roles('VERIFIER')
  @Mutation(() => ApplicationDecision, {
    description:
      'Approve: records the decision and returns CredentialRegistry.attest (states, modalities, expiry only) for your wallet to sign and relayTransaction to send.',
  })
  async approveCredentialApplication(
    @CurrentUser() user: AuthUser,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<ApplicationDecision> {
    const { application, transaction } = await this.credentials.approve(user.address, id);
    return { application: CredentialApplication.from(application), transaction: toPrepared(transaction) };
  }

  @Roles('VERIFIER')
  @Mutation(() => PreparedTransaction, { description: 'The attestation of an approved application again, to sign and relay.' })
  async attestationTransaction(@CurrentUser() user: AuthUser, @Args('id', { type: () => ID }) id: string): Promise<PreparedTransaction> {
    return toPrepared(await this.credentials.attestationOf(user.address, id));
  }

  @Roles('VERIFIER')
  @Mutation(() => ApplicationDecision, { description: 'Reject with a reason the applicant can read.' })
  async rejectCredentialApplication(
    @CurrentUser() user: AuthUser,
    @Args('id', { type: () => ID }) id: string,
    @Args('reason') reason: string,
  ): Promise<ApplicationDecision> {
    return { application: CredentialApplication.from(await this.credentials.reject(user.address, id, reason)), transaction: null };
  }

  @Roles('VERIFIER')
  @Mutation(() => PreparedTransaction, {
    description:
      "Revoke a radiologist's credential: returns CredentialRegistry.revoke for your wallet to sign and relayTransaction to send.",
  })
  async revokeCredential(
    @CurrentUser() user: AuthUser,
    @Args('radiologist') radiologist: string,
    @Args('reason') reason: string,
  ): Promise<PreparedTransaction> {
    return toPrepared(await this.credentials.revoke(user.address, parseAddress(radiologist, 'radiologist'), reason));
  }
}
