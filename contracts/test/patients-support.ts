/**
 * Helpers of the patient contracts' tests: a patient's per-study link key, the EIP-712 signatures of PatientLinks and
 * ResearchPools, and an OpenZeppelin-compatible Merkle tree of (index, account, amount) leaves.
 */
import { mined } from '#chain';
import { AbiCoder, Contract, TypedDataEncoder, Wallet, concat, getBytes, hexlify, keccak256, randomBytes, type BaseWallet } from 'ethers';

const abi = AbiCoder.defaultAbiCoder();

/** A fresh random salt (the RO and the patient keep it; one per study). */
export const freshSalt = (): string => hexlify(randomBytes(32));

/**
 * The patient's link key for one study: derived from a signature of the patient's wallet over the study's salt, so
 * the patient recovers it from its wallet and the salt alone, and two studies' link accounts share nothing.
 */
export async function linkKey(patient: BaseWallet, salt: string): Promise<Wallet> {
  const sig = await patient.signMessage(`OpenRead link key\n${salt}`);
  return new Wallet(keccak256(sig));
}

export const commitmentOf = (account: string, salt: string, studyId: string, chainId: bigint | number): string =>
  keccak256(abi.encode(['address', 'bytes32', 'bytes32', 'uint256'], [account, salt, studyId, chainId]));

async function domainOf(c: Contract, name: string) {
  const net = await (c.runner as { provider: { getNetwork(): Promise<{ chainId: bigint }> } }).provider.getNetwork();
  return { name, version: '1', chainId: net.chainId, verifyingContract: String(c.target) };
}

type Types = Record<string, Record<string, { name: string; type: string }[]>>;

const LINK_TYPES: Types = {
  LinkAcceptance: {
    LinkAcceptance: [
      { name: 'studyId', type: 'bytes32' },
      { name: 'commitment', type: 'bytes32' },
      { name: 'deadline', type: 'uint256' },
    ],
  },
  CustodyRevocation: {
    CustodyRevocation: [
      { name: 'studyId', type: 'bytes32' },
      { name: 'commitment', type: 'bytes32' },
      { name: 'deadline', type: 'uint256' },
    ],
  },
};

const POOL_TYPES: Types = {
  PoolConsent: {
    PoolConsent: [
      { name: 'poolId', type: 'uint256' },
      { name: 'studyId', type: 'bytes32' },
      { name: 'payee', type: 'address' },
      { name: 'nonce', type: 'uint64' },
      { name: 'deadline', type: 'uint256' },
    ],
  },
  ConsentWithdrawal: {
    ConsentWithdrawal: [
      { name: 'poolId', type: 'uint256' },
      { name: 'studyId', type: 'bytes32' },
      { name: 'nonce', type: 'uint64' },
      { name: 'deadline', type: 'uint256' },
    ],
  },
};

export interface Signer712 {
  /** signs the EIP-712 digest: an EOA as usual, a TestSmartAccount's owner raw (ERC-1271) */
  sign(
    digest: string,
    typed: { domain: object; types: Record<string, { name: string; type: string }[]>; value: Record<string, unknown> },
  ): Promise<string>;
}

export const eoaSigner = (key: BaseWallet): Signer712 => ({
  sign: (_digest, t) => key.signTypedData(t.domain, t.types, t.value),
});

/** TestSmartAccount accepts its owner's raw signature of the 32-byte hash. */
export const smartAccountSigner = (owner: BaseWallet): Signer712 => ({
  sign: async (digest) => owner.signingKey.sign(digest).serialized,
});

async function signTyped(
  c: Contract,
  name: string,
  types: Record<string, { name: string; type: string }[]>,
  value: Record<string, unknown>,
  signer: Signer712,
) {
  const domain = await domainOf(c, name);
  const digest = TypedDataEncoder.hash(domain, types, value);
  return signer.sign(digest, { domain, types, value });
}

export const signLinkAcceptance = (links: Contract, signer: Signer712, studyId: string, commitment: string, deadline: bigint) =>
  signTyped(links, 'OpenRead PatientLinks', { ...LINK_TYPES.LinkAcceptance }, { studyId, commitment, deadline }, signer);

export const signRevocation = (links: Contract, signer: Signer712, studyId: string, commitment: string, deadline: bigint) =>
  signTyped(links, 'OpenRead PatientLinks', { ...LINK_TYPES.CustodyRevocation }, { studyId, commitment, deadline }, signer);

export const signConsent = (
  pools: Contract,
  signer: Signer712,
  v: { poolId: bigint; studyId: string; payee: string; nonce: bigint; deadline: bigint },
) => signTyped(pools, 'OpenRead ResearchPools', { ...POOL_TYPES.PoolConsent }, v, signer);

export const signWithdrawal = (
  pools: Contract,
  signer: Signer712,
  v: { poolId: bigint; studyId: string; nonce: bigint; deadline: bigint },
) => signTyped(pools, 'OpenRead ResearchPools', { ...POOL_TYPES.ConsentWithdrawal }, v, signer);

/** A linked patient of one study: its link key, salt and commitment. */
export interface PatientLink {
  studyId: string;
  salt: string;
  key: Wallet;
  account: string;
  commitment: string;
}

/**
 * The custodian (`ro`, an account of the custodian RO) proposes the link and a relayer submits the patient's signed
 * acceptance: the patient's link key never sends a transaction.
 */
export async function linkPatient(
  links: Contract,
  ro: BaseWallet,
  relayer: BaseWallet,
  patient: BaseWallet,
  studyId: string,
  chainId: number | bigint,
  deadline: bigint,
): Promise<PatientLink> {
  const salt = freshSalt();
  const key = await linkKey(patient, salt);
  const commitment = commitmentOf(key.address, salt, studyId, chainId);
  await mined((links.connect(ro) as Contract).proposeLink(studyId, commitment));
  const sig = await signLinkAcceptance(links, eoaSigner(key), studyId, commitment, deadline);
  await mined((links.connect(relayer) as Contract).acceptLink(studyId, key.address, salt, deadline, sig));
  return { studyId, salt, key, account: key.address, commitment };
}

// ───────────────────────────── Merkle distributor ─────────────────────────────

export interface Leaf {
  index: bigint;
  account: string;
  amount: bigint;
}

/** keccak256(bytes.concat(keccak256(abi.encode(index, account, amount)))), as ResearchPools.claim hashes it. */
export const leafHash = (l: Leaf): string =>
  keccak256(keccak256(abi.encode(['uint256', 'address', 'uint256'], [l.index, l.account, l.amount])));

const hashPair = (a: string, b: string) => keccak256(concat(BigInt(a) < BigInt(b) ? [a, b] : [b, a]));

/** A Merkle tree with sorted-pair hashing (OpenZeppelin MerkleProof); an odd node moves up unhashed. */
export function merkleTree(leaves: Leaf[]): { root: string; proof(i: number): string[] } {
  const layers: string[][] = [leaves.map(leafHash)];
  while (layers[layers.length - 1].length > 1) {
    const prev = layers[layers.length - 1];
    const next: string[] = [];
    for (let i = 0; i < prev.length; i += 2) next.push(i + 1 < prev.length ? hashPair(prev[i], prev[i + 1]) : prev[i]);
    layers.push(next);
  }
  return {
    root: layers[layers.length - 1][0],
    proof(i: number) {
      const out: string[] = [];
      for (const layer of layers.slice(0, -1)) {
        const sibling = i ^ 1;
        if (sibling < layer.length) out.push(layer[sibling]);
        i >>= 1;
      }
      return out;
    },
  };
}

/** Every 32-byte word of hex data (calldata after its selector, event data, topics). */
export function words(hex: string, skipSelector = false): string[] {
  const bytes = getBytes(hex).slice(skipSelector ? 4 : 0);
  const out: string[] = [];
  for (let i = 0; i + 32 <= bytes.length; i += 32) out.push(hexlify(bytes.slice(i, i + 32)));
  return out;
}
