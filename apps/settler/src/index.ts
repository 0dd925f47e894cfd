// The settler's public entry (#settler), for tests and scripts.
export * from './settler.module.js';
export * from './settler.service.js';
export * from './settler.controller.js';
export * from './access-log-anchor.service.js';
export * from './credential-watch.service.js';
export * from './sender.service.js';
export * from './prune.service.js';
export * from './health.js';
