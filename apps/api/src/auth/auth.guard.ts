import { CanActivate, ExecutionContext, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { Request } from 'express';
import { OpenReadError } from '../common/errors.js';
import { AuthService, AuthUser } from './auth.service.js';

export interface GqlContext {
  req: Request & { user?: AuthUser | null };
}

const PUBLIC = 'openread:public';
/** Marks a resolver as reachable without a session. Everything else requires one (the guard fails closed). */
export const Public = () => SetMetadata(PUBLIC, true);

/** Global guard: every resolver needs a valid bearer session unless it is explicitly @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType<string>() !== 'graphql') return true;
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const { req } = GqlExecutionContext.create(context).getContext<GqlContext>();
    if (req.user === undefined) req.user = await this.auth.authenticate(req.headers?.authorization);
    if (!req.user) throw new OpenReadError('UNAUTHENTICATED', 'sign in first: Authorization: Bearer <token from login>');
    return true;
  }
}

export const CurrentUser = createParamDecorator((_: unknown, context: ExecutionContext): AuthUser => {
  const user = GqlExecutionContext.create(context).getContext<GqlContext>().req.user;
  if (!user) throw new OpenReadError('UNAUTHENTICATED', 'sign in first');
  return user;
});
