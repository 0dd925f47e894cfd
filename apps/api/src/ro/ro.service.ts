import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { RoRepository, RoRow } from '#db';
import { keyBindingDomain, verifyKeyBinding, x25519PublicKey } from '#lease';
import { ChainService } from '../chain/index.js';
import { chainUnavailable } from '../common/chain-errors.js';
import type { Role } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import { parseAddress } from '../common/validation.js';
import { RoAccessService, parseRoId } from './ro-access.service.js';
import type { RadiologyOrg, RoMemberRole } from './ro.models.js';

export function parsePublicKey(v: string, field = 'publicKey'): Buffer {
  try {
    x25519PublicKey(v);
  } catch {
    throw new OpenReadError('BAD_INPUT', `${field} must be an X25519 public key: 0x-prefixed 32-byte hex`);
  }
  return Buffer.from(v.slice(2), 'hex');
}

/** RO accounts: organisations, their key, billing staff and depositor wallets; accounts' encryption keys. */
@Injectable()
export class RoService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ros: RoRepository,
    private readonly access: RoAccessService,
    private readonly chain: ChainService,
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

  async create(admin: string, name: string, publicKey: string, billing: string[], depositors: string[]): Promise<RadiologyOrg> {
    const trimmed = name.trim();
    if (!trimmed || trimmed.length > 200) throw new OpenReadError('BAD_INPUT', 'name must be 1 to 200 characters');
    const key = parsePublicKey(publicKey);
    const billingAccounts = billing.map((a) => parseAddress(a, 'billing'));
    const depositorAccounts = depositors.map((a) => parseAddress(a, 'depositors'));
    const ro = await this.ros.create(this.config.chainId, trimmed, key, admin);
    if (!ro) throw new OpenReadError('CONFLICT', 'an RO with this name exists');
    for (const a of billingAccounts) await this.ros.addMember(this.config.chainId, ro.id, a, 'BILLING', admin);
    for (const a of depositorAccounts)
      if ((await this.ros.addMember(this.config.chainId, ro.id, a, 'DEPOSITOR', admin)) === 'TAKEN')
        throw new OpenReadError('CONFLICT', `${a} is already a depositor of another RO`);
    return this.withMembers(ro);
  }

  async addMember(admin: string, roId: string, account: string, role: RoMemberRole): Promise<RadiologyOrg> {
    const ro = await this.findRo(roId);
    if ((await this.ros.addMember(this.config.chainId, ro.id, parseAddress(account, 'account'), role, admin)) === 'TAKEN')
      throw new OpenReadError('CONFLICT', 'this wallet is already a depositor of another RO');
    return this.withMembers(ro);
  }

  async removeMember(roId: string, account: string, role: RoMemberRole): Promise<RadiologyOrg> {
    const ro = await this.findRo(roId);
    if (!(await this.ros.removeMember(ro.id, parseAddress(account, 'account'), role)))
      throw new OpenReadError('NOT_FOUND', 'no such member');
    return this.withMembers(ro);
  }

  /** An RO, for its own members (and admins). */
  async view(account: string, roles: ReadonlySet<Role> | undefined, roId: string): Promise<RadiologyOrg> {
    return this.withMembers(await this.access.requireMember(account, roles, roId, ['BILLING', 'DEPOSITOR']));
  }

  async rosOf(account: string): Promise<RadiologyOrg[]> {
    const ids = [...new Set((await this.ros.membershipsOf(this.config.chainId, account)).map((m) => m.roId))];
    const ros = await Promise.all(ids.map((id) => this.ros.find(this.config.chainId, id)));
    return Promise.all(ros.filter((r): r is RoRow => r !== null).map((r) => this.withMembers(r)));
  }

  /**
   * Registers (or rotates) an account's X25519 key with the account's EIP-712 statement binding it to the address
   * (libs/lease key-binding.ts; EOA or ERC-1271 smart account). The RO side checks the statement again against the
   * claimant on chain before sealing, so this check only keeps unusable keys out; it does not protect the key.
   */
  async registerEncryptionKey(account: string, publicKey: string, binding: string): Promise<void> {
    const key = parsePublicKey(publicKey);
    const normalized = `0x${key.toString('hex')}`;
    let bound: boolean;
    try {
      bound = await verifyKeyBinding(
        this.chain.provider,
        keyBindingDomain(this.config.chainId, this.config.contracts.market),
        account,
        normalized,
        binding,
      );
    } catch {
      throw chainUnavailable('cannot check a smart-account signature: the chain node is not reachable');
    }
    if (!bound) throw new OpenReadError('BAD_INPUT', 'binding must be your EIP-712 EncryptionKey signature of this key and your address');
    await this.ros.setEncryptionKey(this.config.chainId, account, key, binding.toLowerCase());
  }
}
