// The indexer's write side (#indexer-store): the event store with its single-writer lock, the projections, the
// COPY helpers and the bounty-ceiling refresher. Only the indexer writes through it; tests and scripts may drive
// it (.dependency-cruiser.cjs allows #indexer-store from test/ and scripts/ only).
export * from './event-store.js';
export * from './projections.js';
export * from './bounds-refresher.js';
export * from './copy.js';
