// The API's public entry (#api), for tests and scripts: how to start it, and the pieces tests drive directly.
export * from './bootstrap.js';
export { ACCESS_METADATA, type Access } from './common/access.js';
export { ERROR_CODES, type ErrorCode } from './common/errors.js';
export { LEDGER_CSV_COLUMNS, RECONCILIATION_CSV_COLUMNS, ReconciliationService, ledgerCsv, reconciliationCsv } from './billing/index.js';
export { StudyFeed } from './live/index.js';
export { IntrospectionCache } from './limits/index.js';
export { AccessAlertFeed } from './exchange/index.js';
