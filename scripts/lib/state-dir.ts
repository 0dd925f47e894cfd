import { join } from 'node:path';

/** Where `npm start` keeps its local state (ephemeral: a fresh chain and database on every start). */
export const STATE_DIR = process.env.OPENREAD_STATE_DIR ?? join(process.cwd(), '.openread');
