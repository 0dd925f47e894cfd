import { Init1764255600000 } from './1764255600000-Init.js';
import { Governance1764300000000 } from './1764300000000-Governance.js';

/** Every migration, in order. Listed explicitly: no globbing, so vitest and the compiled apps load the same set. */
export const migrations = [Init1764255600000, Governance1764300000000];
