export * from './errors.js';
export * from './blob-store.js';
export * from './fs-blob-store.js';
export * from './merkle.js';
export * from './manifest.js';
export * from './chunk.js';
export * from './reader.js';
export * from './framing.js';
