import { AbiCoder, Contract, concat, keccak256, type ContractRunner } from 'ethers';

/**
 * Inclusion proofs for the study access log. Each anchor on chain (AccessLogAnchor) records, beside the hash chain's
 * head, the Merkle root over the leaves of the entries it covers. A leaf commits to one entry with a random per-entry
 * salt (set by the database when the entry is written), so a proof for one study's entry reveals only sibling hashes:
 * another entry's leaf cannot be tested against guessed content (a study ID, an account) without that entry's salt.
 *
 * The tree is OpenZeppelin's standard Merkle tree (leaves sorted, pairs hashed sorted with keccak256, the leaf
 * `keccak256(bytes.concat(keccak256(abi.encode(...))))`), so `MerkleProof.verify` accepts its proofs (the contract's
 * `includes`, tested in contracts/test/access-log-anchor.test.ts). This file is the one place the leaf and the tree
 * are defined: the worker builds roots with it, the API proofs, and an RO verifies with `verifyAccessLogProof`.
 */

/** What a leaf commits to: one access-log entry and its salt. */
export interface AccessLogLeafFields {
  /** 32 random bytes, 0x-hex, fixed when the entry was written */
  salt: string;
  seq: number;
  chainId: number;
  studyId: string;
  account: string;
  action: string;
  outcome: string;
  reason: string | null;
  atMs: number;
}

const LEAF_TYPES = ['bytes32', 'uint64', 'uint256', 'bytes32', 'address', 'string', 'string', 'string', 'uint64'];

/** The entry's leaf: `keccak256(bytes.concat(keccak256(abi.encode(salt, seq, chainId, studyId, account, action, outcome, reason, atMs))))`. */
export function accessLogLeaf(e: AccessLogLeafFields): string {
  const encoded = AbiCoder.defaultAbiCoder().encode(LEAF_TYPES, [
    e.salt,
    e.seq,
    e.chainId,
    e.studyId,
    e.account,
    e.action,
    e.outcome,
    e.reason ?? '',
    e.atMs,
  ]);
  return keccak256(keccak256(encoded));
}

/** OpenZeppelin's `Hashes.commutativeKeccak256`: the pair hashed in ascending order. */
export function hashPair(a: string, b: string): string {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return keccak256(x < y ? concat([x, y]) : concat([y, x]));
}

/** A leaf's root through `proof` (OpenZeppelin's `MerkleProof.processProof`). */
export function processProof(leaf: string, proof: readonly string[]): string {
  return proof.reduce((node, sibling) => hashPair(node, sibling), leaf.toLowerCase());
}

/**
 * OpenZeppelin's standard Merkle tree over leaf hashes: sorted leaves at the end of an array in reverse order, each
 * inner node the sorted-pair hash of its two children (the same root and proofs as @openzeppelin/merkle-tree).
 */
export class AccessLogMerkleTree {
  private readonly tree: string[];
  private readonly index = new Map<string, number>();

  constructor(leaves: readonly string[]) {
    if (!leaves.length) throw new Error('a Merkle tree needs at least one leaf');
    const sorted = leaves.map((l) => l.toLowerCase()).sort();
    this.tree = new Array<string>(2 * sorted.length - 1);
    sorted.forEach((leaf, i) => {
      this.tree[this.tree.length - 1 - i] = leaf;
      this.index.set(leaf, this.tree.length - 1 - i);
    });
    for (let i = this.tree.length - 1 - sorted.length; i >= 0; i--) this.tree[i] = hashPair(this.tree[2 * i + 1], this.tree[2 * i + 2]);
  }

  get root(): string {
    return this.tree[0];
  }

  /** The sibling hashes from `leaf` up to the root. */
  proof(leaf: string): string[] {
    let i = this.index.get(leaf.toLowerCase());
    if (i === undefined) throw new Error(`leaf ${leaf} is not in the tree`);
    const proof: string[] = [];
    while (i > 0) {
      proof.push(this.tree[i % 2 === 1 ? i + 1 : i - 1]);
      i = Math.floor((i - 1) / 2);
    }
    return proof;
  }
}

/** One entry as `accessLogProof` answers it: the entry, the proof, and the anchor it is in (null while pending). */
export interface AccessLogProofItem {
  entry: AccessLogLeafFields;
  proof: readonly string[];
  /** the anchor whose root covers the entry: its `seq` on chain; null while the entry is not anchored yet */
  anchorSeq: number | null;
}

export type AccessLogProofVerdict =
  | { ok: true; seq: number; root: string }
  | { ok: false; seq: number; reason: 'PENDING' | 'NO_SUCH_ANCHOR' | 'NOT_IN_ANCHOR' | 'PROOF_MISMATCH'; root: string | null };

const ANCHOR_ABI = ['function rootOf(uint64 seq) view returns (bytes32)'];

/**
 * The RO's check of its study's access-log entries, trusting only the chain: each entry's leaf is recomputed from the
 * entry itself (not taken from the API), and its proof must lead to the root that `anchor` (AccessLogAnchor's
 * address, read through `runner`) records for the anchor the entry is said to be in. An entry the database rewrote,
 * or a proof the API made up, fails with PROOF_MISMATCH; an entry after the latest anchor is PENDING.
 */
export async function verifyAccessLogProof(
  runner: ContractRunner,
  anchor: string,
  items: readonly AccessLogProofItem[],
): Promise<AccessLogProofVerdict[]> {
  const contract = new Contract(anchor, ANCHOR_ABI, runner);
  const roots = new Map<number, string>();
  const verdicts: AccessLogProofVerdict[] = [];
  for (const { entry, proof, anchorSeq } of items) {
    const seq = entry.seq;
    if (anchorSeq === null) {
      verdicts.push({ ok: false, seq, reason: 'PENDING', root: null });
      continue;
    }
    // an anchor covers the entries after the previous one up to its own seq: never an entry after it
    if (anchorSeq < seq) {
      verdicts.push({ ok: false, seq, reason: 'NOT_IN_ANCHOR', root: null });
      continue;
    }
    if (!roots.has(anchorSeq)) roots.set(anchorSeq, ((await contract.rootOf(anchorSeq)) as string).toLowerCase());
    const root = roots.get(anchorSeq)!;
    if (/^0x0+$/.test(root)) verdicts.push({ ok: false, seq, reason: 'NO_SUCH_ANCHOR', root: null });
    else if (processProof(accessLogLeaf(entry), proof) !== root) verdicts.push({ ok: false, seq, reason: 'PROOF_MISMATCH', root });
    else verdicts.push({ ok: true, seq, root });
  }
  return verdicts;
}
