/** How a prune of expired or final rows (sessions, nonces, rate-limit buckets, the relay outbox) goes in batches. */
export interface PruneOptions {
  /** rows per DELETE statement (each its own short transaction) */
  batchSize: number;
  /** stop after this many statements in one call (the next pass goes on) */
  maxBatches?: number;
}
