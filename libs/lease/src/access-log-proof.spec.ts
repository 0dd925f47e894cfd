import { hexlify, keccak256, randomBytes, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import { AccessLogMerkleTree, accessLogLeaf, hashPair, processProof } from './access-log-proof.js';

const leafOf = (i: number) => keccak256(toUtf8Bytes(`leaf-${i}`));

describe('the access log Merkle tree (OpenZeppelin standard tree)', () => {
  it('proves every leaf of trees of 1 to 17 leaves, and no leaf outside', () => {
    for (let n = 1; n <= 17; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leafOf(i));
      const tree = new AccessLogMerkleTree(leaves);
      for (const leaf of leaves) expect(processProof(leaf, tree.proof(leaf))).toBe(tree.root);
      expect(processProof(leafOf(n), tree.proof(leaves[0]))).not.toBe(tree.root);
      expect(() => tree.proof(leafOf(n))).toThrow(/not in the tree/);
      // the root does not depend on the order the leaves come in
      expect(new AccessLogMerkleTree([...leaves].reverse()).root).toBe(tree.root);
    }
  });

  it('builds the tree OpenZeppelin builds: a single leaf is the root; two leaves hash as a sorted pair', () => {
    expect(new AccessLogMerkleTree([leafOf(1)]).root).toBe(leafOf(1));
    expect(new AccessLogMerkleTree([leafOf(1)]).proof(leafOf(1))).toEqual([]);
    expect(new AccessLogMerkleTree([leafOf(1), leafOf(2)]).root).toBe(hashPair(leafOf(2), leafOf(1)));
    // three sorted leaves a < b < c sit at [_, _, c, b, a] as @openzeppelin/merkle-tree lays them out
    const [a, b, c] = [leafOf(1), leafOf(2), leafOf(3)].sort();
    expect(new AccessLogMerkleTree([c, a, b]).root).toBe(hashPair(hashPair(a, b), c));
  });

  it('commits the leaf to every field of the entry and its salt', () => {
    const entry = {
      salt: hexlify(randomBytes(32)),
      seq: 7,
      chainId: 31337,
      studyId: hexlify(randomBytes(32)),
      account: '0x' + '11'.repeat(20),
      action: 'FETCH_PAYLOAD',
      outcome: 'REFUSED',
      reason: 'NOT_CLAIMANT',
      atMs: 1_765_000_000_000,
    };
    const leaf = accessLogLeaf(entry);
    expect(leaf).toMatch(/^0x[0-9a-f]{64}$/);
    const changes = [
      { salt: hexlify(randomBytes(32)) },
      { seq: 8 },
      { chainId: 1 },
      { studyId: hexlify(randomBytes(32)) },
      { account: '0x' + '22'.repeat(20) },
      { action: 'FETCH_REPORT' },
      { outcome: 'GRANTED' },
      { reason: null },
      { atMs: entry.atMs + 1 },
    ];
    for (const change of changes) expect(accessLogLeaf({ ...entry, ...change })).not.toBe(leaf);
  });
});
