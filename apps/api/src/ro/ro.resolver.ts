import { Args, Context, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Authenticated, CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { RadiologyOrg, RoMemberRole } from './ro.models.js';
import { RoService } from './ro.service.js';

/** RO accounts: organisations, their key, billing staff and depositor wallets; accounts' encryption keys. */
@Resolver(() => RadiologyOrg)
export class RoResolver {
  constructor(private readonly ros: RoService) {}

  @Roles('ADMIN')
  @Mutation(() => RadiologyOrg, { description: 'Onboards an RO with its report key (X25519) and first billing and depositor accounts.' })
  async createRo(
    @CurrentUser() user: AuthUser,
    @Args('name') name: string,
    @Args('publicKey', { description: 'X25519 public key, 0x-hex (32 bytes)' }) publicKey: string,
    @Args('billing', { type: () => [String], defaultValue: [] }) billing: string[],
    @Args('depositors', { type: () => [String], defaultValue: [] }) depositors: string[],
  ): Promise<RadiologyOrg> {
    return this.ros.create(user.address, name, publicKey, billing, depositors);
  }

  @Roles('ADMIN')
  @Mutation(() => RadiologyOrg, { description: 'Adds a billing or depositor account to an RO. A wallet is a depositor of one RO only.' })
  async addRoMember(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('account') account: string,
    @Args('role', { type: () => RoMemberRole }) role: RoMemberRole,
  ): Promise<RadiologyOrg> {
    return this.ros.addMember(user.address, roId, account, role);
  }

  @Roles('ADMIN')
  @Mutation(() => RadiologyOrg)
  async removeRoMember(
    @Args('roId', { type: () => ID }) roId: string,
    @Args('account') account: string,
    @Args('role', { type: () => RoMemberRole }) role: RoMemberRole,
  ): Promise<RadiologyOrg> {
    return this.ros.removeMember(roId, account, role);
  }

  @Roles('RO_BILLING', 'RO_DEPOSITOR', 'ADMIN')
  @Query(() => RadiologyOrg, { description: 'An RO, for its own members (and admins).' })
  async ro(@CurrentUser() user: AuthUser, @Context() ctx: GqlContext, @Args('id', { type: () => ID }) id: string): Promise<RadiologyOrg> {
    return this.ros.view(user.address, ctx.req.roles, id);
  }

  @Authenticated()
  @Query(() => [RadiologyOrg], { description: 'The ROs you are a member of.' })
  async myRos(@CurrentUser() user: AuthUser): Promise<RadiologyOrg[]> {
    return this.ros.rosOf(user.address);
  }

  @Authenticated()
  @Mutation(() => Boolean, {
    description:
      'Registers (or rotates) your X25519 public key: study leases are sealed to it. Keep the private key on your device. ' +
      'binding is your wallet\'s EIP-712 signature of EncryptionKey(account, publicKey) (domain "OpenRead Encryption Key" / market): ' +
      'the RO checks it against your claim on chain before sealing a study key to this key.',
  })
  async registerEncryptionKey(
    @CurrentUser() user: AuthUser,
    @Args('publicKey', { description: 'X25519 public key, 0x-hex (32 bytes)' }) publicKey: string,
    @Args('binding', { description: 'EIP-712 signature of EncryptionKey(account, publicKey) by your wallet, 0x-hex' }) binding: string,
  ): Promise<boolean> {
    await this.ros.registerEncryptionKey(user.address, publicKey, binding);
    return true;
  }
}
