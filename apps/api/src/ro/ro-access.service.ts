import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { RoMemberRole, RoRepository, RoRow } from '#db';
import type { Role } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';

export function parseRoId(id: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
    throw new OpenReadError('BAD_INPUT', 'roId must be an RO id (uuid)');
  return id.toLowerCase();
}

/** Scopes RO staff to their own organisation. */
@Injectable()
export class RoAccessService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ros: RoRepository,
  ) {}

  /**
   * The RO `roId` if `account` is a member of it in one of `memberRoles`, or holds ADMIN. Non-members get
   * FORBIDDEN whether or not the RO exists (RO ids are not for probing).
   */
  async requireMember(account: string, roles: ReadonlySet<Role> | undefined, roId: string, memberRoles: RoMemberRole[]): Promise<RoRow> {
    const id = parseRoId(roId);
    const admin = roles?.has('ADMIN') ?? false;
    if (!admin) {
      const mine = await this.ros.membershipsOf(this.config.chainId, account);
      if (!mine.some((m) => m.roId === id && memberRoles.includes(m.role)))
        throw new OpenReadError('FORBIDDEN', `only the RO's own ${memberRoles.join(' or ').toLowerCase()} accounts can do this`);
    }
    const ro = await this.ros.find(this.config.chainId, id);
    if (!ro) throw new OpenReadError('NOT_FOUND', 'no such RO');
    return ro;
  }

  /** The RO (for its billing staff or an admin) and its depositor wallets: whose ledger billing sees. */
  async billingScope(account: string, roles: ReadonlySet<Role> | undefined, roId: string): Promise<{ ro: RoRow; accounts: string[] }> {
    const ro = await this.requireMember(account, roles, roId, ['BILLING']);
    const accounts = (await this.ros.members(ro.id)).filter((m) => m.role === 'DEPOSITOR').map((m) => m.account);
    return { ro, accounts };
  }

  /** The RO the caller's wallet posts for; FORBIDDEN if it is no RO's depositor. */
  async depositorRo(account: string): Promise<RoRow> {
    const ro = await this.ros.roOfDepositor(this.config.chainId, account);
    if (!ro) throw new OpenReadError('FORBIDDEN', 'this wallet is not a depositor of any RO');
    return ro;
  }
}
