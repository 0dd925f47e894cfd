import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { ChainModule } from '../chain/index.js';
import { LimitsModule } from '../limits/index.js';
import { AuthCache } from './auth-cache.js';
import { AuthGuard } from './auth.guard.js';
import { AuthResolver } from './auth.resolver.js';
import { AuthService } from './auth.service.js';
import { RoleService } from './roles.js';

/**
 * Sign-in, sessions, roles and the global guard that enforces every operation's declared access. Roles beyond the
 * indexed facts come from the features' @ProvidesRoles() providers, found at start (DiscoveryModule), so this module
 * imports no feature that grants a role.
 */
@Module({
  imports: [ChainModule, LimitsModule, DiscoveryModule],
  providers: [AuthService, RoleService, AuthResolver, AuthCache, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AuthService, RoleService],
})
export class AuthModule {}
