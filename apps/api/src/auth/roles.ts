import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '#config';
import { RoleRepository } from '#db';
import { ProvidesRoles, type Role, type RoleProvider } from '../common/access.js';
import { AuthCache } from './auth-cache.js';

/**
 * An account's roles (see common/access.ts for what each means): those read from the indexed facts and the
 * configuration, plus those of every provider a feature registered with @ProvidesRoles().
 */
@Injectable()
export class RoleService implements OnModuleInit {
  private providers: readonly RoleProvider[] = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: RoleRepository,
    private readonly discovery: DiscoveryService,
    private readonly cache: AuthCache,
  ) {}

  onModuleInit(): void {
    // a provider exported and imported by several modules is one instance: ask it once
    const instances = this.discovery.getProviders({ metadataKey: ProvidesRoles.KEY }).map((w) => w.instance as RoleProvider | undefined);
    this.providers = [...new Set(instances.filter((p): p is RoleProvider => typeof p?.rolesOf === 'function'))];
  }

  async rolesOf(address: string): Promise<Set<Role>> {
    const roles = await this.indexedRolesOf(address);
    if (this.config.api.adminAddresses.includes(address)) roles.add('ADMIN');
    for (const provider of this.providers) for (const role of await provider.rolesOf(address)) roles.add(role);
    return roles;
  }

  /**
   * rolesOf(), answered from AuthCache when it holds the account (`cached`), else read and cached. A cached set may
   * only let a request through: a caller that would refuse on it asks `fresh` (a role granted meanwhile counts).
   */
  async cachedRolesOf(address: string, fresh = false): Promise<{ roles: Set<Role>; cached: boolean }> {
    const hit = fresh ? null : this.cache.rolesOf(address);
    if (hit) return { roles: new Set(hit), cached: true };
    const epoch = this.cache.epoch;
    const roles = await this.rolesOf(address);
    this.cache.putRoles(address, new Set(roles), epoch);
    return { roles, cached: false };
  }

  /**
   * The roles that follow from indexed facts alone (RADIOLOGIST, VERIFIER, RO_BILLING, RO_DEPOSITOR): one query, no
   * role provider asked. Enough where only one of them is re-checked often (a live feed's RADIOLOGIST).
   */
  async indexedRolesOf(address: string): Promise<Set<Role>> {
    const facts = await this.repo.factsOf(this.config.chainId, address, this.config.contracts.registry);
    const roles = new Set<Role>();
    if (facts.credentialed) roles.add('RADIOLOGIST');
    if (facts.verifier) roles.add('VERIFIER');
    if (facts.roBilling) roles.add('RO_BILLING');
    if (facts.roDepositor) roles.add('RO_DEPOSITOR');
    return roles;
  }
}
