// What other API features may use of the billing feature.
export { BillingModule } from './billing.module.js';
export * from './csv.js';
export { ReconciliationService } from './reconciliation.service.js';
