export * from './crypto.js';
export * from './lease.js';
