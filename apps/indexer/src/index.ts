// The indexer's public entry (#indexer), for tests and scripts.
export * from './indexer.module.js';
export * from './indexer.service.js';
export * from './pipeline.js';
