export * from './data-source.js';
export * from './db.module.js';
export * from './repositories/auth.repository.js';
export * from './repositories/event-store.js';
export * from './repositories/inbox.repository.js';
export * from './repositories/projections.js';
export * from './repositories/ledger.repository.js';
export * from './repositories/study.repository.js';
