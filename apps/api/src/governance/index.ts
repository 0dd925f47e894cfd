// What other API features may use of the governance feature.
export { GovernanceModule } from './governance.module.js';
