import { Inject, Injectable, type Provider, SetMetadata, type Type } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { RoleRepository } from '#db';

/**
 * Who may call what. Every Query/Mutation/Subscription resolver declares exactly one of:
 *   @Public()          no session needed (sign-in)
 *   @Authenticated()   any signed-in account
 *   @Roles(...roles)   a signed-in account holding at least one of the roles
 * A resolver that declares none is refused (fail closed), and test/roles.e2e.test.ts walks the schema to make
 * sure none is left undeclared.
 *
 *   RADIOLOGIST  holds a credential attestation that is not revoked (expired still counts: they can see their claims)
 *   VERIFIER     holds VERIFIER_ROLE on the CredentialRegistry (indexed from RoleGranted/RoleRevoked)
 *   RO_BILLING   billing staff of an RO (ro_members); resolvers scope it to their own RO(s)
 *   RO_DEPOSITOR a wallet that deposits and posts studies for an RO (ro_members); scoped to that RO
 *   DAO_MEMBER   holds membership votes (governance: issue 4)
 *   ADMIN        listed in ADMIN_ADDRESSES
 *   TREASURY_OWNER an owner of the treasury Safe (its getOwners on chain, cached TREASURY_OWNERS_CACHE_MS)
 * The roles read from the indexed facts and the configuration are RoleService's own; a feature that knows more
 * (governance: DAO_MEMBER, treasury: TREASURY_OWNER) contributes a RoleProvider through ROLE_PROVIDERS, so that
 * RoleService depends on no feature.
 */
export const ROLES = ['RADIOLOGIST', 'VERIFIER', 'RO_BILLING', 'DAO_MEMBER', 'ADMIN', 'RO_DEPOSITOR', 'TREASURY_OWNER'] as const;
export type Role = (typeof ROLES)[number];

export const ACCESS_METADATA = 'openread:access';
export type Access = { kind: 'public' } | { kind: 'authenticated' } | { kind: 'roles'; roles: Role[] };

export const Public = () => SetMetadata(ACCESS_METADATA, { kind: 'public' } satisfies Access);
export const Authenticated = () => SetMetadata(ACCESS_METADATA, { kind: 'authenticated' } satisfies Access);
export const Roles = (...roles: [Role, ...Role[]]) => SetMetadata(ACCESS_METADATA, { kind: 'roles', roles } satisfies Access);

/** A feature's contribution to an account's roles. */
export interface RoleProvider {
  rolesOf(address: string): Promise<Iterable<Role>>;
}

/** The RoleProviders of the features (see {@link roleProviders}). */
export const ROLE_PROVIDERS = Symbol('ROLE_PROVIDERS');

/** The ROLE_PROVIDERS binding: the features' role providers, each also registered as a provider itself. */
export const roleProviders = (...features: Type<RoleProvider>[]): Provider => ({
  provide: ROLE_PROVIDERS,
  useFactory: (...providers: RoleProvider[]) => providers,
  inject: features,
});

@Injectable()
export class RoleService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: RoleRepository,
    @Inject(ROLE_PROVIDERS) private readonly providers: readonly RoleProvider[],
  ) {}

  async rolesOf(address: string): Promise<Set<Role>> {
    const facts = await this.repo.factsOf(this.config.chainId, address, this.config.contracts.registry);
    const roles = new Set<Role>();
    if (facts.credentialed) roles.add('RADIOLOGIST');
    if (facts.verifier) roles.add('VERIFIER');
    if (facts.roBilling) roles.add('RO_BILLING');
    if (facts.roDepositor) roles.add('RO_DEPOSITOR');
    if (this.config.api.adminAddresses.includes(address)) roles.add('ADMIN');
    for (const provider of this.providers) for (const role of await provider.rolesOf(address)) roles.add(role);
    return roles;
  }
}
