/**
 * The exchange lease's crypto without a chain: the chain view is the data `readLeaseChainView` reads (the anvil
 * end-to-end test, test/ro-agent.e2e.test.ts, reads it from deployed contracts). Each tampered part of a package is
 * refused with its reason; each lease has its own key.
 */
import { randomBytes } from 'node:crypto';
import { Wallet, ZeroAddress, keccak256 } from 'ethers';
import { describe, expect, it } from 'vitest';
import { DecryptionError, decryptUnder, encryptPayload, generateStudyKey, generateX25519KeyPair, openSealed } from './crypto.js';
import {
  LEASE_REFUSALS,
  LeaseRefusedError,
  LeaseStatus,
  exchangeLeaseContext,
  exchangeLeaseDomain,
  exchangeLeaseKeyContext,
  grantLease,
  openLeaseWith,
  signExchangeLease,
  type ExchangeLeasePackage,
  type LeaseChainView,
  type LeaseRefusal,
} from './exchange-lease.js';

const CHAIN = 31337n;
const CUSTODY = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const studyId = `0x${'ab'.repeat(32)}`;
const oRo = Wallet.createRandom(); // the custodian's principal account
const oSigner = Wallet.createRandom(); // the key registered as its signer (key 1)
const nRo = Wallet.createRandom();
const nKeys = generateX25519KeyPair(); // registered as key 2
const study = randomBytes(10_000);
const studyKey = generateStudyKey();
const studyEnvelope = encryptPayload(study, studyKey, studyId);
const NOW = 1_800_000_000n;
const EXPIRES = NOW + 3600n;

const grant = (leaseId: bigint, over: Partial<Parameters<typeof grantLease>[0]> = {}) =>
  grantLease({
    chainId: CHAIN,
    custody: CUSTODY,
    leaseId,
    studyId,
    requester: nRo.address,
    recipientKeyId: 2n,
    recipientPublicKey: nKeys.publicKey,
    studyEnvelope,
    studyKey,
    issuedAt: NOW,
    custodian: oRo.address,
    signerKeyId: 1n,
    expiresAt: EXPIRES,
    signer: oSigner,
    ...over,
  });

/** The chain as it stands after the custodian granted `pkg` as it should. */
const chainOf = (pkg: ExchangeLeasePackage, now = NOW): LeaseChainView => ({
  chainId: CHAIN,
  custody: CUSTODY,
  now,
  lease: { status: LeaseStatus.Granted, studyId, requester: nRo.address, keyId: 2n, expiresAt: EXPIRES },
  granted: {
    custodian: oRo.address,
    expiresAt: EXPIRES,
    wrappedKeyHash: keccak256(pkg.wrappedKey),
    ciphertextHash: keccak256(pkg.ciphertext),
  },
  signerKey: { ro: oRo.address, revoked: false, signer: oSigner.address },
  recipientKey: { ro: nRo.address, revoked: false, encryptionKey: nKeys.publicKey },
  revokedAt: 0n,
});

/** Every refusal the tests below produced: the last test checks each reason of the closed set was reached. */
const seen = new Set<LeaseRefusal>();

function refusal(fn: () => unknown): LeaseRefusal | 'opened' {
  try {
    fn();
    return 'opened';
  } catch (e) {
    if (!(e instanceof LeaseRefusedError)) throw e;
    seen.add(e.reason);
    return e.reason;
  }
}

const resign = async (pkg: ExchangeLeasePackage, terms = pkg.terms, signer = oSigner) => ({
  ...pkg,
  terms,
  signature: await signExchangeLease(signer, exchangeLeaseDomain(CHAIN, CUSTODY), terms),
});

describe('the exchange lease', () => {
  it('opens for the requester with its registered key: the study byte for byte', async () => {
    const pkg = await grant(7n);
    expect(openLeaseWith(chainOf(pkg), pkg, nKeys.privateKey).equals(study)).toBe(true);
    expect(pkg.ciphertext.includes(study.subarray(0, 64))).toBe(false);
  });

  it("makes a fresh key per lease: lease 1's key does not open lease 2's ciphertext of the same study", async () => {
    const [one, two] = [await grant(1n), await grant(2n)];
    const keyOf = (p: ExchangeLeasePackage) =>
      openSealed(
        nKeys.privateKey,
        p.wrappedKey,
        exchangeLeaseKeyContext(CHAIN, CUSTODY, p.terms.leaseId, studyId, nRo.address, 2n),
      ).subarray(0, 32);
    const [k1, k2] = [keyOf(one), keyOf(two)];
    expect(k1.equals(k2)).toBe(false);
    expect(decryptUnder(k1, one.ciphertext, exchangeLeaseContext(CHAIN, CUSTODY, 1n, studyId)).equals(study)).toBe(true);
    // neither under lease 2's context nor by pretending it is lease 1's ciphertext
    expect(() => decryptUnder(k1, two.ciphertext, exchangeLeaseContext(CHAIN, CUSTODY, 2n, studyId))).toThrow(DecryptionError);
    expect(() => decryptUnder(k1, two.ciphertext, exchangeLeaseContext(CHAIN, CUSTODY, 1n, studyId))).toThrow(DecryptionError);
    // and a package with lease 1's wrapped key and lease 2's ciphertext does not open either
    const swapped = await resign(two, { ...two.terms, wrappedKeyHash: one.terms.wrappedKeyHash });
    const view = chainOf(two);
    view.granted!.wrappedKeyHash = one.terms.wrappedKeyHash;
    expect(refusal(() => openLeaseWith(view, { ...swapped, wrappedKey: one.wrappedKey }, nKeys.privateKey))).toBe('WRAPPED_KEY_UNREADABLE');
  });

  it('refuses a study key that does not open the study at grant', async () => {
    await expect(grant(3n, { studyKey: generateStudyKey() })).rejects.toThrow(DecryptionError);
  });

  it('refuses each tampered part with its reason', async () => {
    const pkg = await grant(9n);
    const view = chainOf(pkg);
    const open = (p: ExchangeLeasePackage, v = view, key = nKeys.privateKey) => refusal(() => openLeaseWith(v, p, key));
    const flip = (b: Buffer, at: number) => {
      const c = Buffer.from(b);
      c[at] ^= 1;
      return c;
    };
    expect(open(pkg)).toBe('opened');
    // the blobs
    expect(open({ ...pkg, ciphertext: flip(pkg.ciphertext, 40) })).toBe('CIPHERTEXT_MISMATCH');
    expect(open({ ...pkg, wrappedKey: flip(pkg.wrappedKey, 40) })).toBe('WRAPPED_KEY_MISMATCH');
    // the terms, with and without a matching signature (the chain decides)
    expect(open({ ...pkg, terms: { ...pkg.terms, expiresAt: EXPIRES + 86_400n } })).toBe('TERMS_MISMATCH');
    expect(open(await resign(pkg, { ...pkg.terms, expiresAt: EXPIRES + 86_400n }))).toBe('TERMS_MISMATCH');
    expect(open({ ...pkg, terms: { ...pkg.terms, requester: Wallet.createRandom().address } })).toBe('TERMS_MISMATCH');
    expect(open({ ...pkg, terms: { ...pkg.terms, leaseId: 10n } }, { ...view, lease: { ...view.lease } })).toBe('SIGNATURE_INVALID');
    expect(open({ ...pkg, terms: { ...pkg.terms, issuedAt: NOW - 1n } })).toBe('SIGNATURE_INVALID');
    // the signature: altered, by an unregistered key, by a key of another RO, by a revoked key, unknown key ID
    expect(
      open({ ...pkg, signature: pkg.signature.slice(0, 10) + (pkg.signature[10] === '0' ? '1' : '0') + pkg.signature.slice(11) }),
    ).toBe('SIGNATURE_INVALID');
    expect(open({ ...pkg, signature: '0x1234' })).toBe('SIGNATURE_INVALID');
    expect(open(await resign(pkg, pkg.terms, Wallet.createRandom()))).toBe('SIGNATURE_INVALID');
    expect(open(pkg, { ...view, signerKey: { ro: nRo.address, revoked: false, signer: oSigner.address } })).toBe('SIGNER_NOT_CUSTODIAN');
    expect(open(pkg, { ...view, signerKey: { ...view.signerKey, revoked: true } })).toBe('SIGNER_REVOKED');
    expect(open(pkg, { ...view, signerKey: { ro: ZeroAddress, revoked: false, signer: ZeroAddress } })).toBe('SIGNER_UNKNOWN');
    // the wrapped key: sealed (and signed) to another key than the one the lease names
    const stranger = generateX25519KeyPair();
    const misdirected = await grant(9n, { recipientPublicKey: stranger.publicKey });
    expect(open(misdirected, chainOf(misdirected))).toBe('WRAPPED_KEY_UNREADABLE');
    // a re-signed time stamp that is not the one sealed with the key
    expect(open(await resign(pkg, { ...pkg.terms, issuedAt: NOW - 60n }))).toBe('WRAPPED_KEY_UNREADABLE');
    // a wrapped key of another grant of the same lease, with a consistent signature and chain: the ciphertext does not
    // decrypt under it
    const other = await grant(9n);
    const mixed = await resign({ ...pkg, wrappedKey: other.wrappedKey }, { ...pkg.terms, wrappedKeyHash: other.terms.wrappedKeyHash });
    expect(open(mixed, { ...view, granted: { ...view.granted!, wrappedKeyHash: other.terms.wrappedKeyHash } })).toBe(
      'CIPHERTEXT_UNREADABLE',
    );
    // not the requester's key, and a lease the chain does not show as granted, or expired
    expect(open(pkg, view, stranger.privateKey)).toBe('NOT_RECIPIENT');
    expect(open(pkg, { ...view, lease: { ...view.lease, status: LeaseStatus.Requested } })).toBe('LEASE_NOT_GRANTED');
    expect(open(pkg, { ...view, granted: null })).toBe('LEASE_NOT_GRANTED');
    expect(open(pkg, { ...view, now: EXPIRES })).toBe('opened');
    expect(open(pkg, { ...view, now: EXPIRES + 1n })).toBe('LEASE_EXPIRED');
    // the patient revoked the study's custody: every lease of it ended then, expired or not
    expect(open(pkg, { ...view, revokedAt: NOW - 1n })).toBe('CUSTODY_REVOKED');
    expect(open(pkg, { ...view, revokedAt: NOW - 1n, now: EXPIRES + 1n })).toBe('CUSTODY_REVOKED');
    // a renewal moves the lease's expiry on chain; the signed terms keep the granted one
    expect(open(pkg, { ...view, now: EXPIRES + 1n, lease: { ...view.lease, expiresAt: EXPIRES + 3600n } })).toBe('opened');
  });

  it("binds the ciphertext to the chain and the contract: another deployment's view refuses it", async () => {
    const pkg = await grant(11n);
    expect(refusal(() => openLeaseWith({ ...chainOf(pkg), chainId: 1n }, pkg, nKeys.privateKey))).toBe('SIGNATURE_INVALID');
  });

  it('reaches every reason of the closed set above', () => {
    expect([...seen].sort()).toEqual(Object.keys(LEASE_REFUSALS).sort());
  });
});
