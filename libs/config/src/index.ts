export * from './config.js';
export * from './config.module.js';
export * from './polling-loop.js';
export * from './process.js';
