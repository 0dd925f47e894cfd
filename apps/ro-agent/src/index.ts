// The RO agent's public entry (#ro-agent), for tests and scripts.
export * from './agent.service.js';
export * from './holdings.js';
export * from './keys.js';
export * from './ro-agent.module.js';
export * from './http.js';
