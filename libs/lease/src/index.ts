export * from './crypto.js';
export * from './key-binding.js';
export * from './exchange-lease.js';
export * from './ro-agent.js';
export * from './access-log-proof.js';
export * from './claim-lease.js';
export * from './expired-use.js';
