export * from './bus.js';
export * from './jetstream.js';
