// What other API features may use of the auth feature (the access decorators are in common/access.ts).
export { AuthModule } from './auth.module.js';
export { AuthService } from './auth.service.js';
export { RoleService } from './roles.js';
