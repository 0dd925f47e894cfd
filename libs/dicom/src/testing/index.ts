export * from './studies.js';
export * from './phi.js';
