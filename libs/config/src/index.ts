export * from './config.js';
export * from './config.module.js';
export * from './polling-loop.js';
export * from './process.js';
export * from './deadline.js';
export * from './health.js';
export * from './repeat-log.js';
export * from './logger.js';
