import type { Readable } from 'node:stream';

/**
 * Where encrypted chunks live, addressed by the SHA-256 of their bytes (64 lowercase hex digits). Implementations:
 * the filesystem (fs-blob-store.ts, the default); S3-compatible object storage is next. Every method fails with a
 * StorageError: STORAGE_NOT_FOUND for a blob that is not there, STORAGE_UNAVAILABLE (retryable) when the store
 * cannot answer in time.
 */
export interface BlobStore {
  /**
   * Stores `bytes` under `hash`; refuses (RangeError) bytes whose SHA-256 is not `hash`. Idempotent. Keeps no
   * reference to `bytes` once settled: storeStudy reuses the buffer for the next chunk.
   */
  put(hash: string, bytes: Buffer): Promise<void>;
  /** Streams the blob. */
  get(hash: string): Promise<Readable>;
  has(hash: string): Promise<boolean>;
}

const HASH = /^[0-9a-f]{64}$/;

/** Refuses anything but a content address (so a hash can never name a path outside the store). */
export function assertContentAddress(hash: string): void {
  if (!HASH.test(hash)) throw new RangeError('a blob address is a SHA-256 in 64 lowercase hex digits');
}
