// What other API features may use of the treasury feature.
export { TreasuryModule } from './treasury.module.js';
