export * from './bounty.js';
export * from './codes.js';
export * from './credentials.js';
export * from './phi.js';
export * from './random.js';
