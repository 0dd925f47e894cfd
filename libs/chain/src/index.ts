export * from './artifacts.js';
export * from './errors.js';
export * from './contract-errors.js';
export * from './receipts.js';
export * from './governance.js';
export * from './forwarder.js';
export * from './study-id.js';
