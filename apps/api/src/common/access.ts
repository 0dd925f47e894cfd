import { type ExecutionContext, SetMetadata, createParamDecorator } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { Request } from 'express';
import { OpenReadError } from './errors.js';

/**
 * Who may call what: the vocabulary every feature declares its operations with. The auth feature enforces it (its
 * global guard and RoleService); it lives here so that a feature declaring access imports no other feature.
 *
 * Every Query/Mutation/Subscription resolver declares exactly one of:
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
 * (governance: DAO_MEMBER, treasury: TREASURY_OWNER) registers a provider marked @ProvidesRoles() in its own module,
 * so that RoleService depends on no feature.
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

/**
 * Marks a provider class as a {@link RoleProvider}: RoleService asks every provider so marked (found through Nest's
 * DiscoveryService) for the roles it grants. A feature contributes its roles by registering such a provider in its
 * own module; nothing else lists them.
 */
export const ProvidesRoles = DiscoveryService.createDecorator<void>();

/** A signed-in account. */
export interface AuthUser {
  address: string;
}

export interface GqlContext {
  /** rateCharges: the rate-limit charge of each bucket this request spends from, made once by its first root field */
  req: Request & { user?: AuthUser | null; roles?: Set<Role>; rateCharges?: Map<string, Promise<void>> };
}

export const CurrentUser = createParamDecorator((_: unknown, context: ExecutionContext): AuthUser => {
  const user = GqlExecutionContext.create(context).getContext<GqlContext>().req.user;
  if (!user) throw new OpenReadError('UNAUTHENTICATED', 'sign in first');
  return user;
});
