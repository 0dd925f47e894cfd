import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { GovernanceRepository } from '#db';
import { ProvidesRoles, type Role, type RoleProvider } from '../common/access.js';

/** DAO_MEMBER: holds membership votes (indexed DelegateVotesChanged). */
@ProvidesRoles()
@Injectable()
export class GovernanceRoles implements RoleProvider {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly governance: GovernanceRepository,
  ) {}

  async rolesOf(address: string): Promise<Role[]> {
    const membership = this.config.contracts.membership;
    return membership && (await this.governance.votesOf(this.config.chainId, membership, address)) > 0n ? ['DAO_MEMBER'] : [];
  }
}
