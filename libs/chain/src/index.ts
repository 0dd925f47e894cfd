export * from './artifacts.js';
export * from './anvil.js';
export * from './deploy.js';
export * from './errors.js';
export * from './receipts.js';
export * from './governance.js';
export * from './forwarder.js';
export * from './study-id.js';
