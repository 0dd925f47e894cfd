import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { ACCESS_METADATA, type Access, type GqlContext, type Role } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import type { FragmentDefinitionNode, OperationDefinitionNode } from 'graphql';
import { RateLimitService, UNAUTHENTICATED_OPERATION, rootFields } from '../limits/index.js';
import { dependencyUnavailable } from '../common/unavailable.interceptor.js';
import { AuthService } from './auth.service.js';
import { RoleService } from './roles.js';

/**
 * Global guard for every GraphQL resolver: reads its declared access (see common/access.ts), authenticates the bearer
 * session, rate-limits (per account when signed in, else per client address) and checks roles. Undeclared
 * resolvers are refused: the guard fails closed.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  /** the role sets that came from AuthCache (see check) */
  private readonly fromCache = new WeakSet<Set<Role>>();

  constructor(
    private readonly auth: AuthService,
    private readonly roles: RoleService,
    private readonly reflector: Reflector,
    private readonly limits: RateLimitService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    try {
      return await this.check(context);
    } catch (e) {
      // the session and role lookups read Postgres: down, that is DATABASE_UNAVAILABLE (guards run outside interceptors)
      throw dependencyUnavailable(e) ?? e;
    }
  }

  private async check(context: ExecutionContext): Promise<boolean> {
    if (context.getType<string>() !== 'graphql') return true;
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS_METADATA, [context.getHandler(), context.getClass()]);
    if (!access) throw new OpenReadError('FORBIDDEN', 'this operation declares no access rule, so nobody may call it');
    const gql = GqlExecutionContext.create(context);
    const { req } = gql.getContext<GqlContext>();
    const info = gql.getInfo<RootInfo>();
    // only root operations spend tokens: every root field, so aliases do not multiply the budget, but charged once
    // per request and bucket (the first of its fields charges them all: one UPSERT, not one per alias)
    const operation = ['Query', 'Mutation', 'Subscription'].includes(info.parentType.name)
      ? `${info.parentType.name}.${info.fieldName}`
      : null;
    const charges = (req.rateCharges ??= new Map());
    const once = (bucket: string, charge: () => Promise<void>) => {
      if (!charges.has(bucket)) charges.set(bucket, charge());
      return charges.get(bucket)!;
    };
    // public operations (nonce, login, indexerStatus) are limited per client address, never per account: a session
    // must not buy more sign-in attempts than the address has
    if (access.kind === 'public') {
      if (operation) await once(`client:${operation}`, () => this.limits.consumeClient(req.ip, operation, aliasesOf(info, info.fieldName)));
      return true;
    }
    if (req.user === undefined) req.user = await this.auth.authenticateCached(req.headers?.authorization);
    if (!req.user) {
      // calls without a valid session share one bucket per client address, whatever the operation; the request pays
      // for all its root fields at once (its public ones included: it is not signed in either way)
      if (operation)
        await once('client:unauthenticated', () => this.limits.consumeClient(req.ip, UNAUTHENTICATED_OPERATION, aliasesOf(info)));
      throw new OpenReadError('UNAUTHENTICATED', 'sign in first: Authorization: Bearer <token from login>');
    }
    // every root operation a signed-in account calls spends tokens of its own bucket (fails closed)
    const account = req.user.address;
    if (operation) await once(`account:${operation}`, () => this.limits.consume(account, operation, aliasesOf(info, info.fieldName)));
    if (access.kind === 'authenticated') return true;
    if (!req.roles) {
      const { roles, cached } = await this.roles.cachedRolesOf(req.user.address);
      req.roles = roles;
      if (cached) this.fromCache.add(roles);
    }
    // a cached role set only lets a request through: before refusing, the roles are read again (a role granted since)
    if (!access.roles.some((r) => req.roles!.has(r)) && this.fromCache.has(req.roles))
      req.roles = (await this.roles.cachedRolesOf(req.user.address, true)).roles;
    if (!access.roles.some((r) => req.roles!.has(r)))
      throw new OpenReadError('FORBIDDEN', `this needs one of the roles ${access.roles.join(', ')}`);
    return true;
  }
}

interface RootInfo {
  parentType: { name: string };
  fieldName: string;
  operation: OperationDefinitionNode;
  fragments: Record<string, FragmentDefinitionNode>;
}

/** How many root fields of the request's operation are `fieldName` (its aliases), or all of them; at least 1. */
function aliasesOf(info: RootInfo, fieldName?: string): number {
  return Math.max(1, rootFields(info.operation.selectionSet, info.fragments, fieldName));
}
