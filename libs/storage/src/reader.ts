import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DecryptionError, decryptUnder } from '#lease';
import type { BlobStore } from './blob-store.js';
import { chunkContext, chunkKeyOf } from './chunk.js';
import { StorageError, StudyIntegrityError } from './errors.js';
import { LEAF_BYTES, MerkleTree, leafHashesOf, merkleRootOf, type MerkleProof } from './merkle.js';
import { hex0x, verifyManifest, type StudyManifest } from './manifest.js';

export interface ReadStudyOptions {
  studyKey: Buffer;
  store: BlobStore;
  /** the study's root as recorded on chain: a manifest with another root is refused before any chunk is fetched */
  expectedRoot?: string;
}

/**
 * Fetches one chunk whole (a GCM tag is checked before any plaintext is released, so a chunk is the unit of
 * streaming) and checks it against the manifest: size, SHA-256 and Merkle root. Into `into` when it is large enough
 * (the result is then a view of it).
 */
async function fetchChunk(store: BlobStore, m: StudyManifest, index: number, into?: Buffer): Promise<Buffer> {
  const chunk = m.chunks[index];
  let stream: Readable;
  try {
    stream = await store.get(chunk.hash);
  } catch (e) {
    if (e instanceof StorageError && e.code === 'STORAGE_NOT_FOUND') throw new StudyIntegrityError('CHUNK_MISSING', index);
    throw e;
  }
  const blob = into && into.length >= chunk.size ? into.subarray(0, chunk.size) : Buffer.allocUnsafe(chunk.size);
  let size = 0;
  try {
    for await (const part of stream as AsyncIterable<Buffer>) {
      if (size + part.length > chunk.size) {
        stream.destroy();
        throw new StudyIntegrityError('CHUNK_CORRUPTED', index);
      }
      part.copy(blob, size);
      size += part.length;
    }
  } catch (e) {
    if (e instanceof StudyIntegrityError || e instanceof StorageError) throw e;
    throw new StorageError('STORAGE_UNAVAILABLE', `reading chunk ${index}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (size !== chunk.size || createHash('sha256').update(blob).digest('hex') !== chunk.hash || hex0x(merkleRootOf(blob)) !== chunk.root)
    throw new StudyIntegrityError('CHUNK_CORRUPTED', index);
  return blob;
}

/**
 * Streams a stored study back: checks the manifest (and its root against `expectedRoot`), then for each chunk in
 * order fetches it, verifies size, hash and Merkle root against the manifest, decrypts it at its position and emits
 * its bytes. Holds one chunk at a time. Fails the stream with StudyIntegrityError (which chunk, and why) or
 * StorageError STORAGE_UNAVAILABLE (retryable); nothing of a chunk that fails is emitted.
 */
const OUT_BYTES = 64 * 1024;

export function readStudy(manifest: StudyManifest, options: ReadStudyOptions): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    verifyManifest(manifest, options.expectedRoot);
    const key = chunkKeyOf(options.studyKey, manifest.studyId);
    const count = manifest.chunks.length;
    // One buffer for every chunk's ciphertext and one for its plaintext, reused; the plaintext leaves in copies of
    // at most OUT_BYTES (a consumer may hold what it is given). Fresh megabytes per chunk cost more CPU in first
    // touches than the cipher; small copies land in memory the allocator reuses.
    const sealed = Buffer.allocUnsafe(manifest.chunkBytes);
    const plain = Buffer.allocUnsafe(manifest.chunkBytes);
    for (let i = 0; i < count; i++) {
      const blob = await fetchChunk(options.store, manifest, i, sealed);
      let bytes: Buffer;
      try {
        bytes = decryptUnder(key, blob, chunkContext(manifest.studyId, i, i === count - 1), plain);
      } catch (e) {
        if (e instanceof DecryptionError) throw new StudyIntegrityError('CHUNK_NOT_AUTHENTIC', i);
        throw e;
      }
      for (let at = 0; at < bytes.length; at += OUT_BYTES) yield Buffer.from(bytes.subarray(at, at + OUT_BYTES));
    }
  }
  // one chunk per read: the consumer's pace bounds memory, not the stream's default buffering of 16 objects
  return Readable.from(chunks(), { objectMode: false, highWaterMark: 1 });
}

/** A leaf of a stored study and its proof against the manifest's root (what a storage holder answers to a challenge). */
export interface LeafProof {
  leaf: Buffer;
  proof: MerkleProof;
}

/** Number of leaves of the whole stored study. */
export const leafCountOfStudy = (m: StudyManifest): number => m.chunks.reduce((n, c) => n + Math.ceil(c.size / LEAF_BYTES), 0);

/**
 * Proves leaf `leafIndex` of a stored study from one chunk's bytes and the manifest's chunk roots: the proof inside
 * the chunk, then the chunk root's proof among the chunk roots (a full chunk is a perfect subtree: merkle.ts).
 * Verify with verifyProof(manifest root, leaf, proof).
 */
export async function proveLeaf(m: StudyManifest, store: BlobStore, leafIndex: number): Promise<LeafProof> {
  verifyManifest(m);
  const perChunk = m.chunkBytes / LEAF_BYTES;
  const total = leafCountOfStudy(m);
  if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= total) throw new RangeError(`no leaf ${leafIndex}`);
  const chunkIndex = Math.floor(leafIndex / perChunk);
  const blob = await fetchChunk(store, m, chunkIndex);
  const local = leafIndex - chunkIndex * perChunk;
  const inChunk = new MerkleTree(leafHashesOf(blob)).proofOf(local);
  const ofChunk = new MerkleTree(m.chunks.map((c) => Buffer.from(c.root.slice(2), 'hex'))).proofOf(chunkIndex);
  return {
    leaf: blob.subarray(local * LEAF_BYTES, (local + 1) * LEAF_BYTES),
    proof: { leafIndex, leafCount: total, siblings: [...inChunk.siblings, ...ofChunk.siblings] },
  };
}
