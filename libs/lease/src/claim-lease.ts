import { randomBytes } from 'node:crypto';
import {
  Contract,
  TypedDataEncoder,
  getAddress,
  keccak256,
  recoverAddress,
  type Provider,
  type Signer,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import { loadArtifact } from '#chain';
import {
  DecryptionError,
  decryptPayload,
  decryptUnder,
  encryptUnder,
  openSealed,
  roKeyContext,
  sealTo,
  x25519PublicFromPrivate,
} from './crypto.js';
import { keyBindingDomain, verifyKeyBinding } from './key-binding.js';

/**
 * The radiologist's claim lease (issue 14 item 5), on the mechanism of the exchange lease (exchange-lease.ts):
 * every claim gets a **fresh random 256-bit lease key**. The RO side decrypts the study with its own study key and
 * re-encrypts it under the lease key (AES-256-GCM, associated data naming the chain, StudyMarket, the study and the
 * claim: claimant, claim time and the claim's lease expiry), seals the lease key ‖ its time stamp to the claimant's
 * registered, wallet-bound X25519 key, and signs EIP-712 terms over all of it (the ciphertext's hash included) with the
 * study's posting wallet. A former claimant's key opens only the ciphertext of their own claim: the study key itself
 * never leaves the RO side, and the API serves a claim's package only while that claim's lease runs.
 *
 * On chain a claim is (studyId, radiologist, leaseExpiresAt): `StudyMarket.claim` sets the expiry from the block
 * time, and a study is claimed again only after the previous lease expired, so no two claims share it. `claimedAt`
 * (the claim's block time, from the StudyClaimed event) is bound too, as the indexed claim names it.
 */

export interface ClaimLeaseTerms {
  studyId: string;
  /** the claimant (checksummed in the signature, lowercase where stored) */
  radiologist: string;
  /** the claimant's registered X25519 public key, 0x-hex (32 bytes) */
  recipientKey: string;
  /** chain time (unix s) of the claim (its StudyClaimed block) */
  claimedAt: number;
  /** chain time (unix s) the claim's lease expires (StudyMarket.getStudy().leaseExpiresAt): the lease ends with it */
  expiresAt: number;
  /** chain time (unix s) the RO side made the lease key */
  issuedAt: number;
  /** keccak256 of this claim's ciphertext */
  ciphertextHash: string;
  /** keccak256 of the sealed lease key */
  wrappedKeyHash: string;
  /** the RO's X25519 report key, 0x-hex (32 bytes): the radiologist seals the report to it */
  reportKey: string;
}

export interface ClaimLeasePackage {
  terms: ClaimLeaseTerms;
  /** 0x01 ‖ nonce ‖ AES-256-GCM(lease key, study) ‖ tag */
  ciphertext: Buffer;
  /** the lease key ‖ issuedAt sealed to recipientKey */
  wrappedKey: Buffer;
  /** EIP-712 signature of `terms` by the study's posting wallet */
  signature: string;
}

export const CLAIM_LEASE_TYPES: Record<string, TypedDataField[]> = {
  ClaimLease: [
    { name: 'studyId', type: 'bytes32' },
    { name: 'radiologist', type: 'address' },
    { name: 'recipientKey', type: 'bytes32' },
    { name: 'claimedAt', type: 'uint64' },
    { name: 'expiresAt', type: 'uint64' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'ciphertextHash', type: 'bytes32' },
    { name: 'wrappedKeyHash', type: 'bytes32' },
    { name: 'reportKey', type: 'bytes32' },
  ],
};

/** The signing domain: the chain and StudyMarket (a signature for one deployment is refused by another). */
export const claimLeaseDomain = (chainId: number | bigint, market: string): TypedDataDomain => ({
  name: 'OpenRead Claim Lease',
  version: '1',
  chainId,
  verifyingContract: getAddress(market),
});

const lower = (s: string) => s.toLowerCase();

/** Associated data of a claim's ciphertext: moved to another claim, study, market or chain, it does not decrypt. */
export const claimLeaseContext = (
  chainId: number | bigint,
  market: string,
  studyId: string,
  radiologist: string,
  claimedAt: number,
  expiresAt: number,
) => `openread/claim-lease/v1|${chainId}|${lower(market)}|${lower(studyId)}|${lower(radiologist)}|${claimedAt}|${expiresAt}`;

/** Associated data of a claim's wrapped lease key: the claim and the key it was sealed to. */
export const claimLeaseKeyContext = (
  chainId: number | bigint,
  market: string,
  studyId: string,
  radiologist: string,
  claimedAt: number,
  expiresAt: number,
  recipientKey: string,
) =>
  `openread/claim-lease-key/v1|${chainId}|${lower(market)}|${lower(studyId)}|${lower(radiologist)}|${claimedAt}|${expiresAt}|${lower(recipientKey)}`;

/** One claim, as the RO side learns it (pendingLeases) and checks it against the chain. */
export interface ClaimToLease {
  studyId: string;
  radiologist: string;
  claimedAt: number;
  expiresAt: number;
  /** the claimant's registered X25519 key and their wallet's EIP-712 binding of it */
  recipientKey: string;
  recipientKeyBinding: string;
}

export interface SealClaimLeaseInput extends Omit<ClaimToLease, 'recipientKeyBinding'> {
  chainId: number | bigint;
  /** StudyMarket's address */
  market: string;
  /** the RO's report key (public), signed into the terms */
  reportKey: string;
  /** the study as the RO keeps it: encryptPayload(study, studyKey, studyId) */
  studyEnvelope: Buffer;
  /** the RO's own key of this study (never leaves the RO side) */
  studyKey: Buffer;
  /** chain time (unix s) to stamp the lease key with */
  issuedAt: number;
}

const stampedKey = (key: Buffer, issuedAt: number) => {
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(BigInt(issuedAt));
  return Buffer.concat([key, stamp]);
};

/**
 * Makes a fresh lease key, re-encrypts the study under it and seals it to the claimant's key; returns the unsigned
 * terms with the blobs. The lease key exists only inside this call (zeroed before it returns). Throws
 * DecryptionError if the study key does not open the study envelope.
 */
export function sealClaimLease(input: SealClaimLeaseInput): Omit<ClaimLeasePackage, 'signature'> {
  const { chainId, market, studyId, radiologist, claimedAt, expiresAt, recipientKey } = input;
  const study = decryptPayload(input.studyEnvelope, input.studyKey, studyId);
  const leaseKey = randomBytes(32);
  const keyAndStamp = stampedKey(leaseKey, input.issuedAt);
  try {
    const ciphertext = encryptUnder(leaseKey, study, claimLeaseContext(chainId, market, studyId, radiologist, claimedAt, expiresAt));
    const wrappedKey = sealTo(
      recipientKey,
      keyAndStamp,
      claimLeaseKeyContext(chainId, market, studyId, radiologist, claimedAt, expiresAt, recipientKey),
    );
    return {
      terms: {
        studyId: lower(studyId),
        radiologist: getAddress(radiologist),
        recipientKey: lower(recipientKey),
        claimedAt,
        expiresAt,
        issuedAt: input.issuedAt,
        ciphertextHash: keccak256(ciphertext),
        wrappedKeyHash: keccak256(wrappedKey),
        reportKey: lower(input.reportKey),
      },
      ciphertext,
      wrappedKey,
    };
  } finally {
    leaseKey.fill(0);
    keyAndStamp.fill(0);
    study.fill(0);
  }
}

export function signClaimLease(signer: Signer, domain: TypedDataDomain, terms: ClaimLeaseTerms): Promise<string> {
  return signer.signTypedData(domain, CLAIM_LEASE_TYPES, terms);
}

/** The lowercase address that signed these terms (throws on a malformed signature). */
export function claimLeaseSigner(domain: TypedDataDomain, terms: ClaimLeaseTerms, signature: string): string {
  return recoverAddress(TypedDataEncoder.hash(domain, CLAIM_LEASE_TYPES, terms), signature).toLowerCase();
}

/** StudyMarket.Status (indices are part of the ABI). */
export const MarketStudyStatus = { None: 0, Open: 1, Claimed: 2 } as const;

/** A claim as StudyMarket.getStudy shows it at one block. */
export interface ClaimChainView {
  chainId: bigint;
  market: string;
  /** the block's timestamp */
  now: bigint;
  study: { ro: string; radiologist: string; status: number; leaseExpiresAt: bigint };
}

const marketAbi = () => loadArtifact('StudyMarket').abi;

/** Reads StudyMarket.getStudy and the block time at the latest block. */
export async function readClaimChainView(provider: Provider, market: string, studyId: string): Promise<ClaimChainView> {
  const block = await provider.getBlock('latest');
  if (!block) throw new Error('the chain node returned no latest block');
  const { chainId } = await provider.getNetwork();
  const s = await new Contract(market, marketAbi(), provider).getStudy(studyId, { blockTag: block.number });
  return {
    chainId,
    market,
    now: BigInt(block.timestamp),
    study: { ro: s.ro, radiologist: s.radiologist, status: Number(s.status), leaseExpiresAt: BigInt(s.leaseExpiresAt) },
  };
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

// ───────────────────────────── the RO side ─────────────────────────────

/** Why the RO side refused to issue a claim lease (closed). */
export type ClaimIssueRefusal = 'NOT_CURRENT_CLAIM' | 'LEASE_EXPIRED' | 'NOT_POSTER' | 'KEY_NOT_BOUND';

export const CLAIM_ISSUE_REFUSALS: Record<ClaimIssueRefusal, string> = {
  NOT_CURRENT_CLAIM: 'the chain shows no such claim: another claimant, another expiry, or the study is not claimed',
  LEASE_EXPIRED: "the claim's lease has expired (chain time)",
  NOT_POSTER: "the issuer's signer is not the wallet that posted the study",
  KEY_NOT_BOUND: "the recipient key is not bound to the claimant's wallet: no lease key is sealed to it",
};

export class ClaimIssueRefusedError extends Error {
  constructor(readonly reason: ClaimIssueRefusal) {
    super(`${reason}: ${CLAIM_ISSUE_REFUSALS[reason]}`);
    this.name = 'ClaimIssueRefusedError';
  }
}

/** The study as the RO keeps it: its envelope, and its study key sealed to the RO's key (what uploadStudyPayload stored). */
export interface HeldStudy {
  envelope: Buffer;
  keyForRo: Buffer;
}

export interface ClaimLeaseIssuerOptions {
  provider: Provider;
  chainId: number;
  /** StudyMarket's address */
  market: string;
  /** the wallet that posted the RO's studies: it signs the terms */
  signer: Signer;
  /** the RO's X25519 key pair: opens its own copy of study keys; its public half is the report key */
  roKeys: { publicKey: string; privateKey: string };
}

/**
 * The RO side of the claim lease, framework-free (the RO agent, scripts and tests construct it; the API never holds
 * an RO private key or a plaintext study key). `issue` trusts neither the API nor its database: the claimant and
 * the expiry come from the chain, the recipient key from the claimant's own signature.
 */
export class ClaimLeaseIssuer {
  constructor(private readonly o: ClaimLeaseIssuerOptions) {}

  /** Checks the claim against the chain, then seals and signs this claim's package. Throws ClaimIssueRefusedError. */
  async issue(claim: ClaimToLease, held: HeldStudy): Promise<ClaimLeasePackage> {
    const view = await readClaimChainView(this.o.provider, this.o.market, claim.studyId);
    const { study } = view;
    if (
      study.status !== MarketStudyStatus.Claimed ||
      !same(study.radiologist, claim.radiologist) ||
      study.leaseExpiresAt !== BigInt(claim.expiresAt)
    )
      throw new ClaimIssueRefusedError('NOT_CURRENT_CLAIM');
    if (view.now > study.leaseExpiresAt) throw new ClaimIssueRefusedError('LEASE_EXPIRED');
    if (!same(study.ro, await this.o.signer.getAddress())) throw new ClaimIssueRefusedError('NOT_POSTER');
    const bound = await verifyKeyBinding(
      this.o.provider,
      keyBindingDomain(this.o.chainId, this.o.market),
      study.radiologist,
      claim.recipientKey,
      claim.recipientKeyBinding,
    );
    if (!bound) throw new ClaimIssueRefusedError('KEY_NOT_BOUND');
    return this.seal(claim, held, Number(view.now));
  }

  /**
   * Seals and signs without the chain checks of `issue`: for tools that checked already, and for tests showing what
   * the API refuses on its own.
   */
  async seal(claim: Omit<ClaimToLease, 'recipientKeyBinding'>, held: HeldStudy, issuedAt: number): Promise<ClaimLeasePackage> {
    const studyKey = openSealed(this.o.roKeys.privateKey, held.keyForRo, roKeyContext(claim.studyId));
    try {
      const sealed = sealClaimLease({
        chainId: this.o.chainId,
        market: this.o.market,
        studyId: claim.studyId,
        radiologist: claim.radiologist,
        claimedAt: claim.claimedAt,
        expiresAt: claim.expiresAt,
        recipientKey: claim.recipientKey,
        reportKey: this.o.roKeys.publicKey,
        studyEnvelope: held.envelope,
        studyKey,
        issuedAt,
      });
      const signature = await signClaimLease(this.o.signer, claimLeaseDomain(this.o.chainId, this.o.market), sealed.terms);
      return { ...sealed, signature };
    } finally {
      studyKey.fill(0);
    }
  }
}

// ───────────────────────────── the radiologist's side ─────────────────────────────

/** Why `openClaimLease` refused a package (closed). */
export type ClaimLeaseRefusal =
  | 'NOT_CURRENT_CLAIM'
  | 'LEASE_EXPIRED'
  | 'CIPHERTEXT_MISMATCH'
  | 'WRAPPED_KEY_MISMATCH'
  | 'SIGNATURE_INVALID'
  | 'NOT_RECIPIENT'
  | 'WRAPPED_KEY_UNREADABLE'
  | 'CIPHERTEXT_UNREADABLE';

export const CLAIM_LEASE_REFUSALS: Record<ClaimLeaseRefusal, string> = {
  NOT_CURRENT_CLAIM: "the terms do not name the study's current claim on chain (claimant or expiry differ, or it is not claimed)",
  LEASE_EXPIRED: "the claim's lease has expired (chain time)",
  CIPHERTEXT_MISMATCH: 'the ciphertext is not the one the terms name (its hash differs)',
  WRAPPED_KEY_MISMATCH: 'the wrapped key is not the one the terms name (its hash differs)',
  SIGNATURE_INVALID: "the signature is not by the study's posting wallet (on chain) for these terms",
  NOT_RECIPIENT: 'this private key is not the recipient key the terms name',
  WRAPPED_KEY_UNREADABLE: 'the wrapped lease key does not open with this private key (or its time stamp differs from the signed one)',
  CIPHERTEXT_UNREADABLE: 'the ciphertext does not decrypt under the lease key',
};

export class ClaimLeaseRefusedError extends Error {
  constructor(readonly reason: ClaimLeaseRefusal) {
    super(`${reason}: ${CLAIM_LEASE_REFUSALS[reason]}`);
    this.name = 'ClaimLeaseRefusedError';
  }
}

/**
 * Checks a claim's package against the chain view and opens it: the study's plaintext. Throws ClaimLeaseRefusedError
 * with the first reason found, in this order: claim vs chain, expiry, blobs vs terms, signature, recipient, unwrap,
 * decryption.
 */
export function openClaimLeaseWith(view: ClaimChainView, pkg: ClaimLeasePackage, recipientPrivateKey: string): Buffer {
  const t = pkg.terms;
  const { study } = view;
  if (study.status !== MarketStudyStatus.Claimed || !same(study.radiologist, t.radiologist) || study.leaseExpiresAt !== BigInt(t.expiresAt))
    throw new ClaimLeaseRefusedError('NOT_CURRENT_CLAIM');
  if (view.now > study.leaseExpiresAt) throw new ClaimLeaseRefusedError('LEASE_EXPIRED');
  if (!same(keccak256(pkg.ciphertext), t.ciphertextHash)) throw new ClaimLeaseRefusedError('CIPHERTEXT_MISMATCH');
  if (!same(keccak256(pkg.wrappedKey), t.wrappedKeyHash)) throw new ClaimLeaseRefusedError('WRAPPED_KEY_MISMATCH');
  let signer: string;
  try {
    signer = claimLeaseSigner(claimLeaseDomain(view.chainId, view.market), t, pkg.signature);
  } catch {
    throw new ClaimLeaseRefusedError('SIGNATURE_INVALID');
  }
  if (!same(signer, study.ro)) throw new ClaimLeaseRefusedError('SIGNATURE_INVALID');

  let ownPublicKey: string;
  try {
    ownPublicKey = x25519PublicFromPrivate(recipientPrivateKey);
  } catch {
    throw new ClaimLeaseRefusedError('NOT_RECIPIENT');
  }
  if (!same(ownPublicKey, t.recipientKey)) throw new ClaimLeaseRefusedError('NOT_RECIPIENT');

  let keyAndStamp: Buffer;
  try {
    keyAndStamp = openSealed(
      recipientPrivateKey,
      pkg.wrappedKey,
      claimLeaseKeyContext(view.chainId, view.market, t.studyId, t.radiologist, t.claimedAt, t.expiresAt, t.recipientKey),
    );
  } catch (e) {
    if (e instanceof DecryptionError) throw new ClaimLeaseRefusedError('WRAPPED_KEY_UNREADABLE');
    throw e;
  }
  try {
    if (keyAndStamp.length !== 40 || keyAndStamp.readBigUInt64BE(32) !== BigInt(t.issuedAt))
      throw new ClaimLeaseRefusedError('WRAPPED_KEY_UNREADABLE');
    return decryptUnder(
      keyAndStamp.subarray(0, 32),
      pkg.ciphertext,
      claimLeaseContext(view.chainId, view.market, t.studyId, t.radiologist, t.claimedAt, t.expiresAt),
    );
  } catch (e) {
    if (e instanceof DecryptionError) throw new ClaimLeaseRefusedError('CIPHERTEXT_UNREADABLE');
    throw e;
  } finally {
    keyAndStamp.fill(0);
  }
}

/**
 * The radiologist opens their claim's package: reads StudyMarket at the latest block (the claim, its expiry, the
 * posting wallet), checks everything against it and returns the study's plaintext; throws ClaimLeaseRefusedError.
 * Errors reaching the chain node propagate as they are (a refusal is never a node failure).
 */
export async function openClaimLease(
  provider: Provider,
  market: string,
  pkg: ClaimLeasePackage,
  recipientPrivateKey: string,
): Promise<Buffer> {
  return openClaimLeaseWith(await readClaimChainView(provider, market, pkg.terms.studyId), pkg, recipientPrivateKey);
}
