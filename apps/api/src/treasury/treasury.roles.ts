import { Injectable } from '@nestjs/common';
import { ProvidesRoles, type Role, type RoleProvider } from '../common/access.js';
import { TreasuryService } from './treasury.service.js';

/** TREASURY_OWNER: an owner of the treasury Safe (TreasuryService reads and caches the owners). */
@ProvidesRoles()
@Injectable()
export class TreasuryRoles implements RoleProvider {
  constructor(private readonly treasury: TreasuryService) {}

  rolesOf(address: string): Promise<Role[]> {
    return this.treasury.rolesOf(address);
  }
}
