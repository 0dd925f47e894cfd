export * from './bounty.js';
export * from './codes.js';
export * from './credentials.js';
export * from './phi.js';
export * from './random.js';
export * from './eligibility.js';
export * from './ledger.js';
