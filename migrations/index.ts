import { Init1764255600000 } from './1764255600000-Init.js';
import { IndexerReliability1764400000000 } from './1764400000000-IndexerReliability.js';

/** Every migration, in order. Listed explicitly: no globbing, so vitest and the compiled apps load the same set. */
export const migrations = [Init1764255600000, IndexerReliability1764400000000];
