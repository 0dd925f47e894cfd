import { LEAF_BYTES, merkleRootOfRoots } from './merkle.js';
import { StudyIntegrityError } from './errors.js';

/** Bytes a chunk envelope adds to its plaintext: version (1) ‖ nonce (12) ‖ … ‖ GCM tag (16) (#lease encryptUnder). */
export const ENVELOPE_OVERHEAD = 1 + 12 + 16;
/** Stored size of every chunk but the last: 4 MiB, a power of two so that a chunk is a perfect subtree (merkle.ts). */
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

export interface ManifestChunk {
  /** SHA-256 of the stored bytes, hex: the blob's address */
  hash: string;
  /** stored bytes (envelope) */
  size: number;
  /** Merkle root of the chunk's 1 KiB leaves, 0x-hex */
  root: string;
}

/**
 * What a reader needs, besides the study key, to fetch, verify and decrypt a study; the study's identity on chain is
 * `merkleRoot`. Nothing in it is secret or identifying.
 */
export interface StudyManifest {
  version: 1;
  /** each chunk: AES-256-GCM under HKDF-SHA256(study key, salt = study ID, info = openread/chunks/v1), random 96-bit
   * nonce, associated data openread/chunk/v1|<study id>|<index>|last or |more (chunk.ts chunkContext) */
  algorithm: 'AES-256-GCM/HKDF-SHA256/v1';
  studyId: string;
  /** stored size of every chunk but the last (a power of two ≥ leafBytes) */
  chunkBytes: number;
  leafBytes: typeof LEAF_BYTES;
  /** length of the study's bytes before encryption */
  plaintextLength: number;
  chunks: ManifestChunk[];
  /** Merkle root over all chunks' leaves (merkle.ts), 0x-hex */
  merkleRoot: string;
}

export const hex0x = (b: Buffer): string => `0x${b.toString('hex')}`;

/** The root the manifest's chunk roots give. */
export const rootOfChunks = (chunks: ManifestChunk[]): Buffer => merkleRootOfRoots(chunks.map((c) => Buffer.from(c.root.slice(2), 'hex')));

/**
 * Checks the manifest is self-consistent (shape, sizes, lengths, root) and, when given, that its root is the one
 * expected; throws StudyIntegrityError MANIFEST_INVALID or MANIFEST_MISMATCH.
 */
export function verifyManifest(m: StudyManifest, expectedRoot?: string): void {
  const invalid = () => new StudyIntegrityError('MANIFEST_INVALID');
  if (m?.version !== 1 || m.algorithm !== 'AES-256-GCM/HKDF-SHA256/v1' || m.leafBytes !== LEAF_BYTES) throw invalid();
  if (typeof m.studyId !== 'string' || !Array.isArray(m.chunks) || m.chunks.length === 0) throw invalid();
  const { chunkBytes } = m;
  if (!Number.isInteger(chunkBytes) || chunkBytes < LEAF_BYTES || (chunkBytes & (chunkBytes - 1)) !== 0) throw invalid();
  let plain = 0;
  m.chunks.forEach((c, i) => {
    const last = i === m.chunks.length - 1;
    if (!/^[0-9a-f]{64}$/.test(c.hash) || !/^0x[0-9a-f]{64}$/.test(c.root)) throw invalid();
    if (!Number.isInteger(c.size) || c.size < ENVELOPE_OVERHEAD || c.size > chunkBytes || (!last && c.size !== chunkBytes)) throw invalid();
    plain += c.size - ENVELOPE_OVERHEAD;
  });
  if (plain !== m.plaintextLength || hex0x(rootOfChunks(m.chunks)) !== m.merkleRoot) throw invalid();
  if (expectedRoot !== undefined && expectedRoot.toLowerCase() !== m.merkleRoot) throw new StudyIntegrityError('MANIFEST_MISMATCH');
}
