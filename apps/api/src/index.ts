// The API's public entry (#api), for tests and scripts: how to start it, and the pieces tests drive directly.
export * from './bootstrap.js';
export { ACCESS_METADATA, type Access } from './auth/roles.js';
export * from './billing/csv.js';
export { ReconciliationService } from './billing/reconciliation.service.js';
export { StudyFeed } from './live/study-feed.service.js';
