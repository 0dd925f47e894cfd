import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  LEAF_BYTES,
  MerkleTree,
  leafHash,
  leafHashesOf,
  merkleRootOf,
  merkleRootOfRoots,
  nodeHash,
  rootFromProof,
  verifyProof,
} from './merkle.js';

const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();

describe('Merkle tree over 1 KiB leaves', () => {
  it('hashes leaves and nodes exactly as documented (0x00 / 0x01 prefixes, SHA-256)', () => {
    const a = Buffer.from('a');
    const b = Buffer.from('b');
    expect(leafHash(a)).toEqual(sha(Buffer.of(0), a));
    expect(nodeHash(a, b)).toEqual(sha(Buffer.of(1), a, b));
    // three leaves: the odd last one is carried up, then paired (left-balanced, RFC 6962's shape)
    const blob = Buffer.concat([Buffer.alloc(LEAF_BYTES, 1), Buffer.alloc(LEAF_BYTES, 2), Buffer.alloc(10, 3)]);
    const [l0, l1, l2] = [Buffer.alloc(LEAF_BYTES, 1), Buffer.alloc(LEAF_BYTES, 2), Buffer.alloc(10, 3)].map((l) => sha(Buffer.of(0), l));
    expect(merkleRootOf(blob)).toEqual(sha(Buffer.of(1), sha(Buffer.of(1), l0, l1), l2));
    expect(merkleRootOfRoots([])).toEqual(sha());
  });

  it('is positional: swapping two leaves changes the root', () => {
    const x = randomBytes(LEAF_BYTES);
    const y = randomBytes(LEAF_BYTES);
    expect(merkleRootOf(Buffer.concat([x, y]))).not.toEqual(merkleRootOf(Buffer.concat([y, x])));
  });

  it('proves every leaf of trees of 1 to 33 leaves, and refuses a tampered leaf, another position or a wrong sibling', () => {
    for (let n = 1; n <= 33; n++) {
      const blob = randomBytes(n * LEAF_BYTES - (n % 3) * 100);
      const leaves = Array.from({ length: n }, (_, i) => blob.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES));
      const tree = new MerkleTree(leafHashesOf(blob));
      expect(tree.root).toEqual(merkleRootOf(blob));
      for (let i = 0; i < n; i++) {
        const proof = tree.proofOf(i);
        expect(verifyProof(tree.root, leaves[i], proof)).toBe(true);
        const tampered = Buffer.from(leaves[i]);
        tampered[tampered.length >> 1] ^= 1;
        expect(verifyProof(tree.root, tampered, proof)).toBe(false);
        if (n > 1) {
          expect(verifyProof(tree.root, leaves[i], { ...proof, leafIndex: (i + 1) % n })).toBe(false);
          const siblings = proof.siblings.map((s, k) => (k === 0 ? randomBytes(32) : s));
          expect(verifyProof(tree.root, leaves[i], { ...proof, siblings })).toBe(false);
          expect(verifyProof(tree.root, leaves[i], { ...proof, siblings: [...proof.siblings, randomBytes(32)] })).toBe(false);
        }
      }
    }
  });

  it('refuses a proof whose index is outside the tree', () => {
    expect(rootFromProof(randomBytes(32), 4, 4, [])).toBeNull();
    expect(() => new MerkleTree([randomBytes(32)]).proofOf(1)).toThrow(RangeError);
  });
});
