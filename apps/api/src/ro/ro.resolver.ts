import { Inject } from '@nestjs/common';
import { Args, Context, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig } from '#config';
import { RoRepository, RoRow } from '#db';
import { x25519PublicKey } from '#lease';
import { Authenticated, CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import { parseAddress } from '../common/validation.js';
import { RoAccessService, parseRoId } from './ro-access.service.js';
import { RadiologyOrg, RoMemberRole } from './ro.models.js';

export function parsePublicKey(v: string, field = 'publicKey'): Buffer {
  try {
    x25519PublicKey(v);
  } catch {
    throw new OpenReadError('BAD_INPUT', `${field} must be an X25519 public key: 0x-prefixed 32-byte hex`);
  }
  return Buffer.from(v.slice(2), 'hex');
}

/** RO accounts: organisations, their key, billing staff and depositor wallets; accounts' encryption keys. */
@Resolver(() => RadiologyOrg)
export class RoResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ros: RoRepository,
    private readonly access: RoAccessService,
  ) {}

  private async findRo(roId: string): Promise<RoRow> {
    const ro = await this.ros.find(this.config.chainId, parseRoId(roId));
    if (!ro) throw new OpenReadError('NOT_FOUND', 'no such RO');
    return ro;
  }

  private async withMembers(ro: RoRow): Promise<RadiologyOrg> {
    const members = await this.ros.members(ro.id);
    return { id: ro.id, name: ro.name, publicKey: ro.publicKey, members: members.map((m) => ({ account: m.account, role: m.role })) };
  }

  @Roles('ADMIN')
  @Mutation(() => RadiologyOrg, { description: 'Onboards an RO with its report key (X25519) and first billing and depositor accounts.' })
  async createRo(
    @CurrentUser() user: AuthUser,
    @Args('name') name: string,
    @Args('publicKey', { description: 'X25519 public key, 0x-hex (32 bytes)' }) publicKey: string,
    @Args('billing', { type: () => [String], defaultValue: [] }) billing: string[],
    @Args('depositors', { type: () => [String], defaultValue: [] }) depositors: string[],
  ): Promise<RadiologyOrg> {
    const trimmed = name.trim();
    if (!trimmed || trimmed.length > 200) throw new OpenReadError('BAD_INPUT', 'name must be 1 to 200 characters');
    const key = parsePublicKey(publicKey);
    const billingAccounts = billing.map((a) => parseAddress(a, 'billing'));
    const depositorAccounts = depositors.map((a) => parseAddress(a, 'depositors'));
    const ro = await this.ros.create(this.config.chainId, trimmed, key, user.address);
    if (!ro) throw new OpenReadError('CONFLICT', 'an RO with this name exists');
    for (const a of billingAccounts) await this.ros.addMember(this.config.chainId, ro.id, a, 'BILLING', user.address);
    for (const a of depositorAccounts)
      if ((await this.ros.addMember(this.config.chainId, ro.id, a, 'DEPOSITOR', user.address)) === 'TAKEN')
        throw new OpenReadError('CONFLICT', `${a} is already a depositor of another RO`);
    return this.withMembers(ro);
  }

  @Roles('ADMIN')
  @Mutation(() => RadiologyOrg, { description: 'Adds a billing or depositor account to an RO. A wallet is a depositor of one RO only.' })
  async addRoMember(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('account') account: string,
    @Args('role', { type: () => RoMemberRole }) role: RoMemberRole,
  ): Promise<RadiologyOrg> {
    const ro = await this.findRo(roId);
    if ((await this.ros.addMember(this.config.chainId, ro.id, parseAddress(account, 'account'), role, user.address)) === 'TAKEN')
      throw new OpenReadError('CONFLICT', 'this wallet is already a depositor of another RO');
    return this.withMembers(ro);
  }

  @Roles('ADMIN')
  @Mutation(() => RadiologyOrg)
  async removeRoMember(
    @Args('roId', { type: () => ID }) roId: string,
    @Args('account') account: string,
    @Args('role', { type: () => RoMemberRole }) role: RoMemberRole,
  ): Promise<RadiologyOrg> {
    const ro = await this.findRo(roId);
    if (!(await this.ros.removeMember(ro.id, parseAddress(account, 'account'), role))) throw new OpenReadError('NOT_FOUND', 'no such member');
    return this.withMembers(ro);
  }

  @Roles('RO_BILLING', 'RO_DEPOSITOR', 'ADMIN')
  @Query(() => RadiologyOrg, { description: 'An RO, for its own members (and admins).' })
  async ro(@CurrentUser() user: AuthUser, @Context() ctx: GqlContext, @Args('id', { type: () => ID }) id: string): Promise<RadiologyOrg> {
    return this.withMembers(await this.access.requireMember(user.address, ctx.req.roles, id, ['BILLING', 'DEPOSITOR']));
  }

  @Authenticated()
  @Query(() => [RadiologyOrg], { description: 'The ROs you are a member of.' })
  async myRos(@CurrentUser() user: AuthUser): Promise<RadiologyOrg[]> {
    const ids = [...new Set((await this.ros.membershipsOf(this.config.chainId, user.address)).map((m) => m.roId))];
    const ros = await Promise.all(ids.map((id) => this.ros.find(this.config.chainId, id)));
    return Promise.all(ros.filter((r): r is RoRow => r !== null).map((r) => this.withMembers(r)));
  }

  @Authenticated()
  @Mutation(() => Boolean, {
    description: 'Registers (or rotates) your X25519 public key: study leases are sealed to it. Keep the private key on your device.',
  })
  async registerEncryptionKey(@CurrentUser() user: AuthUser, @Args('publicKey') publicKey: string): Promise<boolean> {
    await this.ros.setEncryptionKey(this.config.chainId, user.address, parsePublicKey(publicKey));
    return true;
  }
}
