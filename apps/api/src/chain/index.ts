// What other API features may use of the chain feature.
export { ChainModule } from './chain.module.js';
export { ChainService, type RelayRoles, type Target, type UnsignedTx } from './chain.service.js';
