import { hash } from 'node:crypto';

/**
 * The one Merkle tree of a stored study: what a storage holder proves it still holds (issue 16) and what a reader
 * checks the chunks against. Positional (ordered), as Sia's: a proof is for a position, so pairs are never sorted.
 *
 *  - leaves: each stored chunk (its ciphertext envelope, exactly as the blob store holds it) cut into LEAF_BYTES
 *    (1 KiB) slices, the last slice of a chunk possibly shorter; the leaves of chunk 0, then of chunk 1, …
 *  - leaf hash  = SHA-256(0x00 ‖ leaf bytes)
 *  - node hash  = SHA-256(0x01 ‖ left ‖ right)
 *    (the prefixes, as in RFC 6962 and Sia, stop a node from passing as a leaf)
 *  - shape: level by level from the leaves, pairing (0,1), (2,3), …; an odd last node is carried up unchanged.
 *    This is RFC 6962's left-balanced tree: the left subtree of any node is the largest perfect tree that fits.
 *  - root of zero leaves: SHA-256 of nothing.
 *
 * SHA-256 rather than keccak256: node:crypto has it natively (keccak256 in JS hashed ~4 MB/s here, far below the
 * disk), and the EVM verifies it through the SHA-256 precompile (address 0x02) for on-chain proofs.
 *
 * Because every full stored chunk is a power-of-two number of leaves (chunk.ts), chunk i's leaves form the perfect
 * subtree at position i, and the study's root is this same tree over the chunks' own roots (merkleRootOfRoots):
 * a holder proves a leaf from one chunk's bytes plus the manifest's chunk roots.
 */
export const LEAF_BYTES = 1024;
const LEAF = Buffer.of(0);
const NODE = Buffer.of(1);

const HASH_BYTES = 32;
// Scratch buffers for the prefixed hash inputs: a 1 KiB leaf costs SHA-256 (with SHA-NI) far less than a
// Buffer.concat's allocation does, so leaves and nodes are copied behind their prefix here instead. Safe to share:
// every use is synchronous (filled, hashed, done) and node:crypto's one-shot hash copies nothing back into them.
const leafScratch = Buffer.alloc(1 + LEAF_BYTES); // [0] stays 0x00
const nodeScratch = Buffer.alloc(1 + 2 * HASH_BYTES, 1); // [0] stays 0x01

export function leafHash(leaf: Buffer): Buffer {
  if (leaf.length > LEAF_BYTES) return hash('sha256', Buffer.concat([LEAF, leaf]), 'buffer');
  leaf.copy(leafScratch, 1);
  return hash('sha256', leafScratch.subarray(0, 1 + leaf.length), 'buffer');
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES) return hash('sha256', Buffer.concat([NODE, left, right]), 'buffer');
  left.copy(nodeScratch, 1);
  right.copy(nodeScratch, 1 + HASH_BYTES);
  return hash('sha256', nodeScratch, 'buffer');
}
const EMPTY = (): Buffer => hash('sha256', Buffer.alloc(0), 'buffer');

/** The leaf hashes of one stored chunk. */
export function leafHashesOf(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < blob.length; at += LEAF_BYTES) out.push(leafHash(blob.subarray(at, at + LEAF_BYTES)));
  return out;
}

/**
 * The root of one blob's leaves (a chunk's root in the manifest): the same tree as merkleRootOfRoots(leafHashesOf(blob)),
 * folded level by level in place in one flat buffer of hashes rather than an array of 32-byte Buffers per level
 * (a 4 MiB chunk is 4,096 leaves and 4,095 nodes: the per-hash bookkeeping, not SHA-256, was most of the cost).
 */
export function merkleRootOf(blob: Buffer): Buffer {
  let count = Math.ceil(blob.length / LEAF_BYTES);
  if (count === 0) return EMPTY();
  const level = Buffer.allocUnsafe(count * HASH_BYTES);
  for (let i = 0; i < count; i++) leafHash(blob.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES)).copy(level, i * HASH_BYTES);
  while (count > 1) {
    // node i of the level above is written at i, after nodes 2i and 2i+1 below were read: never overwrites unread ones
    for (let i = 0; i < count; i += 2) {
      const at = i * HASH_BYTES;
      const to = (i >> 1) * HASH_BYTES;
      if (i + 1 < count) {
        level.copy(nodeScratch, 1, at, at + 2 * HASH_BYTES);
        hash('sha256', nodeScratch, 'buffer').copy(level, to);
      } else level.copy(level, to, at, at + HASH_BYTES); // an odd last node is carried up unchanged
    }
    count = (count + 1) >> 1;
  }
  return Buffer.from(level.subarray(0, HASH_BYTES));
}

/** Number of leaves of a blob of `bytes` bytes. */
export const leafCountOf = (bytes: number): number => Math.ceil(bytes / LEAF_BYTES);

/** The levels of the tree, leaves first, root last. */
function levelsOf(nodes: Buffer[]): Buffer[][] {
  const levels = [nodes];
  while (levels[levels.length - 1].length > 1) {
    const below = levels[levels.length - 1];
    const up: Buffer[] = [];
    for (let i = 0; i < below.length; i += 2) up.push(i + 1 < below.length ? nodeHash(below[i], below[i + 1]) : below[i]);
    levels.push(up);
  }
  return levels;
}

/** The root over already-hashed nodes (leaf hashes, or the chunks' roots: see above). */
export function merkleRootOfRoots(nodes: Buffer[]): Buffer {
  if (nodes.length === 0) return EMPTY();
  const levels = levelsOf(nodes);
  return levels[levels.length - 1][0];
}

/**
 * A proof that `leaf` sits at `leafIndex` among `leafCount` leaves: the sibling hashes from the leaf up, skipping
 * the levels where the node is an odd last one carried up (the verifier knows which from leafIndex and leafCount).
 */
export interface MerkleProof {
  leafIndex: number;
  leafCount: number;
  siblings: Buffer[];
}

/** A tree kept in memory over leaf hashes (or chunk roots), to answer proofs. */
export class MerkleTree {
  private readonly levels: Buffer[][];
  constructor(nodes: Buffer[]) {
    if (nodes.length === 0) throw new RangeError('a Merkle tree needs at least one leaf');
    this.levels = levelsOf(nodes);
  }
  get root(): Buffer {
    return this.levels[this.levels.length - 1][0];
  }
  get leafCount(): number {
    return this.levels[0].length;
  }
  proofOf(leafIndex: number): MerkleProof {
    if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= this.leafCount) throw new RangeError(`no leaf ${leafIndex}`);
    const siblings: Buffer[] = [];
    let i = leafIndex;
    for (const level of this.levels.slice(0, -1)) {
      const sibling = i ^ 1;
      if (sibling < level.length) siblings.push(level[sibling]);
      i >>= 1;
    }
    return { leafIndex, leafCount: this.leafCount, siblings };
  }
}

/** Folds a node hash at `index` among `count` up to the root with the given siblings; null if they do not fit. */
export function rootFromProof(node: Buffer, index: number, count: number, siblings: Buffer[]): Buffer | null {
  if (!Number.isInteger(index) || index < 0 || index >= count) return null;
  let h = node;
  let i = index;
  let n = count;
  let used = 0;
  while (n > 1) {
    const sibling = i ^ 1;
    if (sibling < n) {
      const s = siblings[used++];
      if (!s || s.length !== 32) return null;
      h = i & 1 ? nodeHash(s, h) : nodeHash(h, s);
    }
    i >>= 1;
    n = (n + 1) >> 1;
  }
  return used === siblings.length ? h : null;
}

/** True when `leaf` (its bytes) is at proof.leafIndex under `root`. */
export function verifyProof(root: Buffer, leaf: Buffer, proof: MerkleProof): boolean {
  const got = rootFromProof(leafHash(leaf), proof.leafIndex, proof.leafCount, proof.siblings);
  return got !== null && got.equals(root);
}
