/**
 * The claim lease's crypto without a chain: the chain view is what `readClaimChainView` reads from StudyMarket (the
 * anvil end-to-end test, test/claim-lease.e2e.test.ts, reads it from the deployed market). Each tampered part of a
 * package is refused with its reason; each claim has its own key.
 */
import { randomBytes } from 'node:crypto';
import { Wallet, keccak256 } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  decryptUnder,
  encryptPayload,
  generateStudyKey,
  generateX25519KeyPair,
  openSealed,
  roKeyContext,
  sealTo,
} from './crypto.js';
import {
  CLAIM_LEASE_REFUSALS,
  ClaimLeaseIssuer,
  ClaimLeaseRefusedError,
  MarketStudyStatus,
  claimLeaseContext,
  claimLeaseDomain,
  claimLeaseKeyContext,
  openClaimLeaseWith,
  signClaimLease,
  type ClaimChainView,
  type ClaimLeasePackage,
  type ClaimLeaseRefusal,
} from './claim-lease.js';

const CHAIN = 31337;
const MARKET = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const studyId = `0x${'cd'.repeat(32)}`;
const poster = Wallet.createRandom(); // the study's posting wallet
const roKeys = generateX25519KeyPair();
const readerA = { wallet: Wallet.createRandom(), keys: generateX25519KeyPair() };
const readerB = { wallet: Wallet.createRandom(), keys: generateX25519KeyPair() };
const study = randomBytes(10_000);
const studyKey = generateStudyKey();
const held = { envelope: encryptPayload(study, studyKey, studyId), keyForRo: sealTo(roKeys.publicKey, studyKey, roKeyContext(studyId)) };
const NOW = 1_800_000_000;

// `seal` needs no provider: only `issue` reads the chain
const issuer = (signer = poster) =>
  new ClaimLeaseIssuer({ provider: undefined as never, chainId: CHAIN, market: MARKET, signer, roKeys: roKeys });

const claimOf = (r: typeof readerA, claimedAt = NOW) => ({
  studyId,
  radiologist: r.wallet.address,
  claimedAt,
  expiresAt: claimedAt + 3600,
  recipientKey: r.keys.publicKey,
});

/** The chain while `pkg`'s claim runs. */
const chainOf = (pkg: ClaimLeasePackage, now = NOW + 10): ClaimChainView => ({
  chainId: BigInt(CHAIN),
  market: MARKET,
  now: BigInt(now),
  study: {
    ro: poster.address,
    radiologist: pkg.terms.radiologist,
    status: MarketStudyStatus.Claimed,
    leaseExpiresAt: BigInt(pkg.terms.expiresAt),
  },
});

const refusal = (f: () => unknown): ClaimLeaseRefusal | 'OPENED' => {
  try {
    f();
    return 'OPENED';
  } catch (e) {
    if (e instanceof ClaimLeaseRefusedError) return e.reason;
    throw e;
  }
};

const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  c[at] ^= 1;
  return c;
};

describe('the claim lease (fresh key per claim)', () => {
  it('opens to the study for its claimant; the study key never appears in the package', async () => {
    const pkg = await issuer().seal(claimOf(readerA), held, NOW + 5);
    expect(openClaimLeaseWith(chainOf(pkg), pkg, readerA.keys.privateKey).equals(study)).toBe(true);
    expect(pkg.terms.ciphertextHash).toBe(keccak256(pkg.ciphertext));
    expect(pkg.ciphertext.includes(studyKey)).toBe(false);
    expect(pkg.wrappedKey.includes(studyKey)).toBe(false);
  });

  it("a second claim gets another key: the first claimant's key does not open the second ciphertext", async () => {
    const first = await issuer().seal(claimOf(readerA), held, NOW + 5);
    const second = await issuer().seal(claimOf(readerB, NOW + 7200), held, NOW + 7205);
    const keyOf = (pkg: ClaimLeasePackage, keys: { privateKey: string }) =>
      openSealed(
        keys.privateKey,
        pkg.wrappedKey,
        claimLeaseKeyContext(
          CHAIN,
          MARKET,
          studyId,
          pkg.terms.radiologist,
          pkg.terms.claimedAt,
          pkg.terms.expiresAt,
          pkg.terms.recipientKey,
        ),
      ).subarray(0, 32);
    const keyA = keyOf(first, readerA.keys);
    const keyB = keyOf(second, readerB.keys);
    expect(keyA.equals(keyB)).toBe(false);
    expect(keyA.equals(studyKey) || keyB.equals(studyKey)).toBe(false);
    const t = second.terms;
    const contextB = claimLeaseContext(CHAIN, MARKET, studyId, t.radiologist, t.claimedAt, t.expiresAt);
    expect(decryptUnder(keyB, second.ciphertext, contextB).equals(study)).toBe(true);
    expect(() => decryptUnder(keyA, second.ciphertext, contextB)).toThrow(DecryptionError);
    // and the first claimant's package no longer matches the chain once the study is someone else's claim
    expect(refusal(() => openClaimLeaseWith(chainOf(second, NOW + 7210), first, readerA.keys.privateKey))).toBe('NOT_CURRENT_CLAIM');
    // even the same claimant claiming again gets a new key
    const again = await issuer().seal(claimOf(readerA, NOW + 7200), held, NOW + 7201);
    expect(keyOf(again, readerA.keys).equals(keyA)).toBe(false);
  });

  it('refuses each tampered part with its reason', async () => {
    const pkg = await issuer().seal(claimOf(readerA), held, NOW + 5);
    const view = chainOf(pkg);
    const open = (p: ClaimLeasePackage, v = view, key = readerA.keys.privateKey) => refusal(() => openClaimLeaseWith(v, p, key));
    const resign = async (terms: ClaimLeasePackage['terms'], signer = poster) =>
      signClaimLease(signer, claimLeaseDomain(CHAIN, MARKET), terms);

    // ciphertext: changed bytes, or a changed ciphertext with its hash re-signed by someone else
    expect(open({ ...pkg, ciphertext: flip(pkg.ciphertext, 40) })).toBe('CIPHERTEXT_MISMATCH');
    const otherCipher = flip(pkg.ciphertext, 40);
    const otherTerms = { ...pkg.terms, ciphertextHash: keccak256(otherCipher) };
    expect(open({ ...pkg, ciphertext: otherCipher, terms: otherTerms })).toBe('SIGNATURE_INVALID');
    // …and even re-signed by the poster (a bug on the RO side), GCM refuses the altered bytes
    expect(open({ ...pkg, ciphertext: otherCipher, terms: otherTerms, signature: await resign(otherTerms) })).toBe('CIPHERTEXT_UNREADABLE');
    expect(open({ ...pkg, wrappedKey: flip(pkg.wrappedKey, 50) })).toBe('WRAPPED_KEY_MISMATCH');

    // terms: each field changed (the signature then no longer recovers to the poster)
    expect(open({ ...pkg, terms: { ...pkg.terms, issuedAt: pkg.terms.issuedAt + 1 } })).toBe('SIGNATURE_INVALID');
    expect(open({ ...pkg, terms: { ...pkg.terms, claimedAt: pkg.terms.claimedAt - 1 } })).toBe('SIGNATURE_INVALID');
    expect(open({ ...pkg, terms: { ...pkg.terms, reportKey: generateX25519KeyPair().publicKey } })).toBe('SIGNATURE_INVALID');
    // terms naming another claim than the chain's (expiry or claimant)
    expect(open({ ...pkg, terms: { ...pkg.terms, expiresAt: pkg.terms.expiresAt + 60 } })).toBe('NOT_CURRENT_CLAIM');
    expect(open(pkg, { ...view, study: { ...view.study, radiologist: readerB.wallet.address } })).toBe('NOT_CURRENT_CLAIM');
    expect(open(pkg, { ...view, study: { ...view.study, status: MarketStudyStatus.Open } })).toBe('NOT_CURRENT_CLAIM');
    // a claimed-at time the RO signed differently from the one sealed in: the key's associated data refuses
    const shifted = { ...pkg.terms, claimedAt: pkg.terms.claimedAt + 1 };
    expect(open({ ...pkg, terms: shifted, signature: await resign(shifted) })).toBe('WRAPPED_KEY_UNREADABLE');
    const stamped = { ...pkg.terms, issuedAt: pkg.terms.issuedAt + 1 };
    expect(open({ ...pkg, terms: stamped, signature: await resign(stamped) })).toBe('WRAPPED_KEY_UNREADABLE');

    // signature: altered, malformed, or by a wallet that did not post the study
    expect(
      open({ ...pkg, signature: pkg.signature.slice(0, 10) + (pkg.signature[10] === 'a' ? 'b' : 'a') + pkg.signature.slice(11) }),
    ).toBe('SIGNATURE_INVALID');
    expect(open({ ...pkg, signature: '0x1234' })).toBe('SIGNATURE_INVALID');
    const forged = await issuer(Wallet.createRandom()).seal(claimOf(readerA), held, NOW + 5);
    expect(open(forged)).toBe('SIGNATURE_INVALID');

    // wrong recipient: another radiologist's private key, or a package sealed to another key under these terms
    expect(open(pkg, view, readerB.keys.privateKey)).toBe('NOT_RECIPIENT');
    expect(open(pkg, view, '0x1234')).toBe('NOT_RECIPIENT');
    const toB = await issuer().seal({ ...claimOf(readerA), recipientKey: readerB.keys.publicKey }, held, NOW + 5);
    const mixed = { ...toB, terms: { ...toB.terms, recipientKey: readerA.keys.publicKey } };
    expect(open({ ...mixed, signature: await resign(mixed.terms) })).toBe('WRAPPED_KEY_UNREADABLE');

    // expiry (chain time)
    expect(open(pkg, chainOf(pkg, pkg.terms.expiresAt + 1))).toBe('LEASE_EXPIRED');
    expect(open(pkg, chainOf(pkg, pkg.terms.expiresAt))).toBe('OPENED');
  });

  it('every refusal has a sentence', () => {
    for (const [reason, sentence] of Object.entries(CLAIM_LEASE_REFUSALS))
      expect(new ClaimLeaseRefusedError(reason as ClaimLeaseRefusal).message).toContain(sentence);
  });
});
