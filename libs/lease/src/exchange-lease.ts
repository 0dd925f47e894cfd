import { randomBytes } from 'node:crypto';
import {
  Contract,
  TypedDataEncoder,
  ZeroAddress,
  getAddress,
  id as keccakId,
  keccak256,
  recoverAddress,
  toBeHex,
  zeroPadValue,
  type Provider,
  type Signer,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import { loadArtifact } from '#chain';
import { DecryptionError, decryptPayload, decryptUnder, encryptUnder, openSealed, sealTo, x25519PublicFromPrivate } from './crypto.js';

/**
 * The exchange lease between ROs (issue 14, the seed's lease): the custodian (oRO) answers a `LeaseRequested` of
 * StudyCustody with a package only the requester's (nRO's) registered key opens, signed by the oRO's registered key.
 *
 *  - a **fresh random 256-bit lease key per lease**, time-stamped (`issuedAt`): the oRO decrypts the study with its
 *    own study key and re-encrypts it under the lease key (AES-256-GCM, associated data = chain ID, StudyCustody's
 *    address, lease ID, study ID), so a former lessee never holds a key that opens another lease's ciphertext;
 *  - the lease key (‖ its time stamp) is sealed to the nRO's X25519 key registered in RoDirectory under the lease's
 *    key ID (ECIES of crypto.ts, associated data naming the lease, the requester and the key ID);
 *  - the oRO's registered signing key signs EIP-712 terms (domain: chain ID and StudyCustody's address) over the
 *    lease, the study, both parties, both key IDs, keccak256 of the ciphertext and of the wrapped key, the time stamp
 *    and the expiry that LeaseGranted recorded;
 *  - the nRO (`openLease`) reads the chain at one block and refuses, with a closed reason, anything that does not
 *    agree with it: the lease's status, its study's revocation by the patient, its expiry (chain time), LeaseGranted's hashes, custodian and expiry, the
 *    signer registered in RoDirectory for the custodian under the signing key ID, its own key.
 *
 * The chain fixes the expiry at grant (block time + period), so the agent seals first (`sealExchangeLease`: the
 * hashes go into grantLease), then signs the terms with the expiry the grant recorded (`signExchangeLease`).
 * `grantLease` does both when the expiry is known in advance (tests, tools).
 */

export interface ExchangeLeaseTerms {
  leaseId: bigint;
  studyId: string;
  /** the requesting RO (nRO), its principal account */
  requester: string;
  /** the custodian (oRO) that granted, its principal account */
  custodian: string;
  /** the nRO's RoDirectory key the lease key is sealed to (the request's keyId) */
  recipientKeyId: bigint;
  /** the oRO's RoDirectory key whose signer signs these terms */
  signerKeyId: bigint;
  /** keccak256 of the lease ciphertext (as recorded by LeaseGranted) */
  ciphertextHash: string;
  /** keccak256 of the wrapped lease key (as recorded by LeaseGranted) */
  wrappedKeyHash: string;
  /** chain time (unix s) the lease key was made */
  issuedAt: bigint;
  /** chain time (unix s) LeaseGranted set as the expiry */
  expiresAt: bigint;
}

export interface ExchangeLeasePackage {
  terms: ExchangeLeaseTerms;
  /** 0x01 ‖ nonce ‖ AES-256-GCM(lease key, study) ‖ tag */
  ciphertext: Buffer;
  /** the lease key ‖ issuedAt sealed to the nRO's key */
  wrappedKey: Buffer;
  /** EIP-712 signature of `terms` by the oRO's registered signer */
  signature: string;
}

export const EXCHANGE_LEASE_TYPES: Record<string, TypedDataField[]> = {
  ExchangeLease: [
    { name: 'leaseId', type: 'uint256' },
    { name: 'studyId', type: 'bytes32' },
    { name: 'requester', type: 'address' },
    { name: 'custodian', type: 'address' },
    { name: 'recipientKeyId', type: 'uint256' },
    { name: 'signerKeyId', type: 'uint256' },
    { name: 'ciphertextHash', type: 'bytes32' },
    { name: 'wrappedKeyHash', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'expiresAt', type: 'uint64' },
  ],
};

/** The signing domain: the chain and StudyCustody (a signature for one deployment is refused by another). */
export const exchangeLeaseDomain = (chainId: number | bigint, custody: string): TypedDataDomain => ({
  name: 'OpenRead Exchange Lease',
  version: '1',
  chainId,
  verifyingContract: getAddress(custody),
});

const lower = (s: string) => s.toLowerCase();

/** Associated data of a lease ciphertext: moved to another lease, study, contract or chain, it does not decrypt. */
export const exchangeLeaseContext = (chainId: number | bigint, custody: string, leaseId: bigint, studyId: string) =>
  `openread/exchange-lease/v1|${chainId}|${lower(custody)}|${leaseId}|${lower(studyId)}`;

/** Associated data of a wrapped lease key: the lease, its requester and the key ID it was requested for. */
export const exchangeLeaseKeyContext = (
  chainId: number | bigint,
  custody: string,
  leaseId: bigint,
  studyId: string,
  requester: string,
  recipientKeyId: bigint,
) => `openread/exchange-lease-key/v1|${chainId}|${lower(custody)}|${leaseId}|${lower(studyId)}|${lower(requester)}|${recipientKeyId}`;

export interface SealLeaseInput {
  chainId: number | bigint;
  /** StudyCustody's address */
  custody: string;
  leaseId: bigint;
  studyId: string;
  requester: string;
  recipientKeyId: bigint;
  /** the nRO's X25519 public key, read from RoDirectory.keyOf(recipientKeyId) */
  recipientPublicKey: string;
  /** the study as the oRO keeps it: encryptPayload(study, studyKey, studyId) */
  studyEnvelope: Buffer;
  /** the oRO's own key of this study (never leaves the oRO side) */
  studyKey: Buffer;
  /** chain time (unix s) to stamp the lease key with */
  issuedAt: bigint;
}

export interface SealedLease {
  ciphertext: Buffer;
  wrappedKey: Buffer;
  ciphertextHash: string;
  wrappedKeyHash: string;
  issuedAt: bigint;
}

const stampedKey = (key: Buffer, issuedAt: bigint) => {
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(issuedAt);
  return Buffer.concat([key, stamp]);
};

/**
 * Makes a fresh lease key, re-encrypts the study under it and seals it to the nRO's key. The lease key exists only
 * inside this call (zeroed before it returns): what leaves is the ciphertext, the wrapped key and their hashes.
 * Throws DecryptionError if the study key does not open the study envelope.
 */
export function sealExchangeLease(input: SealLeaseInput): SealedLease {
  const { chainId, custody, leaseId, studyId } = input;
  const study = decryptPayload(input.studyEnvelope, input.studyKey, studyId);
  const leaseKey = randomBytes(32);
  const keyAndStamp = stampedKey(leaseKey, input.issuedAt);
  try {
    const ciphertext = encryptUnder(leaseKey, study, exchangeLeaseContext(chainId, custody, leaseId, studyId));
    const wrappedKey = sealTo(
      input.recipientPublicKey,
      keyAndStamp,
      exchangeLeaseKeyContext(chainId, custody, leaseId, studyId, input.requester, input.recipientKeyId),
    );
    return {
      ciphertext,
      wrappedKey,
      ciphertextHash: keccak256(ciphertext),
      wrappedKeyHash: keccak256(wrappedKey),
      issuedAt: input.issuedAt,
    };
  } finally {
    leaseKey.fill(0);
    keyAndStamp.fill(0);
    study.fill(0);
  }
}

/** The oRO's registered signer signs the terms (after the grant, with the expiry LeaseGranted recorded). */
export function signExchangeLease(signer: Signer, domain: TypedDataDomain, terms: ExchangeLeaseTerms): Promise<string> {
  return signer.signTypedData(domain, EXCHANGE_LEASE_TYPES, terms);
}

/**
 * The whole grant package when the expiry is known in advance: fresh lease key, re-encryption, wrapping, signature.
 * The agent uses the two halves instead (the chain sets the expiry at grant).
 */
export async function grantLease(
  input: SealLeaseInput & { custodian: string; signerKeyId: bigint; expiresAt: bigint; signer: Signer },
): Promise<ExchangeLeasePackage> {
  const sealed = sealExchangeLease(input);
  const terms = termsOf(input, sealed, input.expiresAt);
  const signature = await signExchangeLease(input.signer, exchangeLeaseDomain(input.chainId, input.custody), terms);
  return { terms, ciphertext: sealed.ciphertext, wrappedKey: sealed.wrappedKey, signature };
}

/** The terms of a sealed lease, for signing. */
export function termsOf(
  lease: { leaseId: bigint; studyId: string; requester: string; custodian: string; recipientKeyId: bigint; signerKeyId: bigint },
  sealed: Pick<SealedLease, 'ciphertextHash' | 'wrappedKeyHash' | 'issuedAt'>,
  expiresAt: bigint,
): ExchangeLeaseTerms {
  return {
    leaseId: lease.leaseId,
    studyId: lower(lease.studyId),
    requester: getAddress(lease.requester),
    custodian: getAddress(lease.custodian),
    recipientKeyId: lease.recipientKeyId,
    signerKeyId: lease.signerKeyId,
    ciphertextHash: sealed.ciphertextHash,
    wrappedKeyHash: sealed.wrappedKeyHash,
    issuedAt: sealed.issuedAt,
    expiresAt,
  };
}

// ───────────────────────────── the nRO side ─────────────────────────────

/** Why `openLease` refused a package: a closed set, each with a sentence (`LEASE_REFUSALS`). */
export type LeaseRefusal =
  | 'LEASE_NOT_GRANTED'
  | 'LEASE_EXPIRED'
  | 'CUSTODY_REVOKED'
  | 'TERMS_MISMATCH'
  | 'CIPHERTEXT_MISMATCH'
  | 'WRAPPED_KEY_MISMATCH'
  | 'SIGNER_UNKNOWN'
  | 'SIGNER_NOT_CUSTODIAN'
  | 'SIGNER_REVOKED'
  | 'SIGNATURE_INVALID'
  | 'NOT_RECIPIENT'
  | 'WRAPPED_KEY_UNREADABLE'
  | 'CIPHERTEXT_UNREADABLE';

export const LEASE_REFUSALS: Record<LeaseRefusal, string> = {
  LEASE_NOT_GRANTED: 'the chain has no granted lease with this ID',
  LEASE_EXPIRED: 'the lease has expired (chain time)',
  CUSTODY_REVOKED: "the study's patient revoked the custodian's custody: every lease of the study ended then",
  TERMS_MISMATCH: 'the signed terms disagree with what the chain recorded for this lease',
  CIPHERTEXT_MISMATCH: 'the ciphertext is not the one the terms name (its hash differs)',
  WRAPPED_KEY_MISMATCH: 'the wrapped key is not the one the terms name (its hash differs)',
  SIGNER_UNKNOWN: 'the signing key ID is not registered in RoDirectory',
  SIGNER_NOT_CUSTODIAN: "the signing key is another RO's, not the custodian's",
  SIGNER_REVOKED: "the custodian's signing key has been revoked",
  SIGNATURE_INVALID: "the signature is not by the custodian's registered signer for these terms",
  NOT_RECIPIENT: "this private key is not the requester's key the lease names",
  WRAPPED_KEY_UNREADABLE: 'the wrapped lease key does not open with this private key',
  CIPHERTEXT_UNREADABLE: 'the ciphertext does not decrypt under the lease key',
};

export class LeaseRefusedError extends Error {
  constructor(readonly reason: LeaseRefusal) {
    super(`${reason}: ${LEASE_REFUSALS[reason]}`);
    this.name = 'LeaseRefusedError';
  }
}

/** StudyCustody.LeaseStatus (indices are part of the ABI). */
export const LeaseStatus = { None: 0, Requested: 1, Granted: 2, Denied: 3, Cancelled: 4 } as const;

/** What the nRO reads from the chain, at one block, to judge a package. */
export interface LeaseChainView {
  chainId: bigint;
  custody: string;
  /** the block's timestamp */
  now: bigint;
  /** StudyCustody.leaseOf(leaseId); expiresAt moves with renewals */
  lease: { status: number; studyId: string; requester: string; keyId: bigint; expiresAt: bigint };
  /** the lease's LeaseGranted event (null if none) */
  granted: { custodian: string; expiresAt: bigint; wrappedKeyHash: string; ciphertextHash: string } | null;
  /** RoDirectory.keyOf(terms.signerKeyId) */
  signerKey: { ro: string; revoked: boolean; signer: string };
  /** RoDirectory.keyOf(terms.recipientKeyId) */
  recipientKey: { ro: string; revoked: boolean; encryptionKey: string };
  /** StudyCustody.revokedAt(lease.studyId): when the patient revoked the study's custody (0: not revoked) */
  revokedAt: bigint;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * Checks a package against the chain and opens it: the study's plaintext. Throws LeaseRefusedError with the first
 * reason found, in this order: status, revocation, expiry, terms vs chain, blobs vs terms, signer, signature, recipient, unwrap,
 * decryption.
 */
export function openLeaseWith(view: LeaseChainView, pkg: ExchangeLeasePackage, recipientPrivateKey: string): Buffer {
  const t = pkg.terms;
  const { lease, granted } = view;
  if (lease.status !== LeaseStatus.Granted || !granted) throw new LeaseRefusedError('LEASE_NOT_GRANTED');
  // before the expiry: a revoked study's lease is refused for the revocation even once it would have expired anyway
  if (view.revokedAt !== 0n) throw new LeaseRefusedError('CUSTODY_REVOKED');
  if (view.now > lease.expiresAt) throw new LeaseRefusedError('LEASE_EXPIRED');
  const agrees =
    same(t.studyId, lease.studyId) &&
    same(t.requester, lease.requester) &&
    t.recipientKeyId === lease.keyId &&
    same(t.custodian, granted.custodian) &&
    t.expiresAt === granted.expiresAt &&
    same(t.ciphertextHash, granted.ciphertextHash) &&
    same(t.wrappedKeyHash, granted.wrappedKeyHash) &&
    t.issuedAt <= granted.expiresAt;
  if (!agrees) throw new LeaseRefusedError('TERMS_MISMATCH');
  if (!same(keccak256(pkg.ciphertext), t.ciphertextHash)) throw new LeaseRefusedError('CIPHERTEXT_MISMATCH');
  if (!same(keccak256(pkg.wrappedKey), t.wrappedKeyHash)) throw new LeaseRefusedError('WRAPPED_KEY_MISMATCH');

  const { signerKey } = view;
  if (same(signerKey.ro, ZeroAddress)) throw new LeaseRefusedError('SIGNER_UNKNOWN');
  if (!same(signerKey.ro, granted.custodian)) throw new LeaseRefusedError('SIGNER_NOT_CUSTODIAN');
  if (signerKey.revoked) throw new LeaseRefusedError('SIGNER_REVOKED');
  let recovered: string;
  try {
    recovered = recoverAddress(
      TypedDataEncoder.hash(exchangeLeaseDomain(view.chainId, view.custody), EXCHANGE_LEASE_TYPES, t),
      pkg.signature,
    );
  } catch {
    throw new LeaseRefusedError('SIGNATURE_INVALID');
  }
  if (!same(recovered, signerKey.signer)) throw new LeaseRefusedError('SIGNATURE_INVALID');

  const { recipientKey } = view;
  let ownPublicKey: string;
  try {
    ownPublicKey = x25519PublicFromPrivate(recipientPrivateKey);
  } catch {
    throw new LeaseRefusedError('NOT_RECIPIENT');
  }
  if (!same(recipientKey.ro, lease.requester) || !same(recipientKey.encryptionKey, ownPublicKey))
    throw new LeaseRefusedError('NOT_RECIPIENT');

  let keyAndStamp: Buffer;
  try {
    keyAndStamp = openSealed(
      recipientPrivateKey,
      pkg.wrappedKey,
      exchangeLeaseKeyContext(view.chainId, view.custody, t.leaseId, t.studyId, t.requester, t.recipientKeyId),
    );
  } catch (e) {
    if (e instanceof DecryptionError) throw new LeaseRefusedError('WRAPPED_KEY_UNREADABLE');
    throw e;
  }
  // the time stamp sealed with the key must be the signed one
  if (keyAndStamp.length !== 40 || keyAndStamp.readBigUInt64BE(32) !== t.issuedAt) throw new LeaseRefusedError('WRAPPED_KEY_UNREADABLE');
  const leaseKey = keyAndStamp.subarray(0, 32);
  try {
    return decryptUnder(leaseKey, pkg.ciphertext, exchangeLeaseContext(view.chainId, view.custody, t.leaseId, t.studyId));
  } catch (e) {
    if (e instanceof DecryptionError) throw new LeaseRefusedError('CIPHERTEXT_UNREADABLE');
    throw e;
  } finally {
    keyAndStamp.fill(0);
  }
}

export interface LeaseChainOptions {
  /** StudyCustody's address; its RoDirectory is read from it (custody.directory()), never taken from the package */
  custody: string;
  /** first block to search for LeaseGranted (default 0: a deployment block saves a real node the scan) */
  fromBlock?: number;
}

const custodyAbi = () => loadArtifact('StudyCustody').abi;
const directoryAbi = () => loadArtifact('RoDirectory').abi;

/** Reads what `openLeaseWith` needs from the chain, every call at the same (latest) block. */
export async function readLeaseChainView(provider: Provider, opts: LeaseChainOptions, terms: ExchangeLeaseTerms): Promise<LeaseChainView> {
  const custody = new Contract(opts.custody, custodyAbi(), provider);
  const block = await provider.getBlock('latest');
  if (!block) throw new Error('the chain node returned no latest block');
  const blockTag = block.number;
  const { chainId } = await provider.getNetwork();
  const directory = new Contract(await custody.directory({ blockTag }), directoryAbi(), provider);
  const [lease, signerKey, recipientKey, logs] = await Promise.all([
    custody.leaseOf(terms.leaseId, { blockTag }),
    directory.keyOf(terms.signerKeyId, { blockTag }),
    directory.keyOf(terms.recipientKeyId, { blockTag }),
    provider.getLogs({
      address: opts.custody,
      topics: [keccakId('LeaseGranted(uint256,bytes32,address,uint64,bytes32,bytes32)'), zeroPadValue(toBeHex(terms.leaseId), 32)],
      fromBlock: opts.fromBlock ?? 0,
      toBlock: blockTag,
    }),
  ]);
  const grantLog = logs.length === 1 ? custody.interface.parseLog(logs[0]) : null;
  // the study as the chain names it for this lease (not the package's terms), at the same block
  const revokedAt = BigInt(await custody.revokedAt(lease.studyId, { blockTag }));
  return {
    chainId,
    custody: opts.custody,
    now: BigInt(block.timestamp),
    lease: {
      status: Number(lease.status),
      studyId: lease.studyId,
      requester: lease.requester,
      keyId: lease.keyId,
      expiresAt: lease.expiresAt,
    },
    granted: grantLog
      ? {
          custodian: grantLog.args.custodian,
          expiresAt: grantLog.args.expiresAt,
          wrappedKeyHash: grantLog.args.wrappedKeyHash,
          ciphertextHash: grantLog.args.ciphertextHash,
        }
      : null,
    signerKey: { ro: signerKey.ro, revoked: signerKey.revoked, signer: signerKey.signer },
    recipientKey: { ro: recipientKey.ro, revoked: recipientKey.revoked, encryptionKey: recipientKey.encryptionKey },
    revokedAt,
  };
}

/**
 * The nRO opens a lease package: reads the chain (StudyCustody, its RoDirectory, LeaseGranted) at the latest block,
 * checks everything against it and returns the study's plaintext; throws LeaseRefusedError with a closed reason.
 * Errors reaching the chain node propagate as they are (a refusal is never a node failure).
 */
export async function openLease(
  provider: Provider,
  opts: LeaseChainOptions,
  pkg: ExchangeLeasePackage,
  recipientPrivateKey: string,
): Promise<Buffer> {
  return openLeaseWith(await readLeaseChainView(provider, opts, pkg.terms), pkg, recipientPrivateKey);
}
