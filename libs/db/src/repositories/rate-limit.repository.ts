// relay-outbox.repository.ts (rewritten on another branch, so left untouched here) imports PruneOptions from this
// path; once it imports ../pruning.js this file goes.
export type { PruneOptions } from '../pruning.js';
