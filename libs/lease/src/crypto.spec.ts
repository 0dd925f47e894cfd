import { randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  decryptPayload,
  encryptPayload,
  generateStudyKey,
  generateX25519KeyPair,
  leaseContext,
  openSealed,
  sealTo,
} from './crypto.js';
import { leaseDomain, leaseSigner, leaseTerms, signLease } from './lease.js';

const studyId = `0x${'ab'.repeat(32)}`;

describe('the lease primitives', () => {
  it('a payload decrypts with its study key and study ID only; a flipped bit is detected', () => {
    const key = generateStudyKey();
    const plain = randomBytes(4096);
    const env = encryptPayload(plain, key, studyId);
    expect(decryptPayload(env, key, studyId).equals(plain)).toBe(true);
    expect(() => decryptPayload(env, generateStudyKey(), studyId)).toThrow(DecryptionError);
    expect(() => decryptPayload(env, key, `0x${'cd'.repeat(32)}`)).toThrow(DecryptionError);
    const tampered = Buffer.from(env);
    tampered[20] ^= 1;
    expect(() => decryptPayload(tampered, key, studyId)).toThrow(DecryptionError);
  });

  it('a sealed study key opens with the recipient private key and context, and with nothing else', () => {
    const alice = generateX25519KeyPair();
    const mallory = generateX25519KeyPair();
    const key = generateStudyKey();
    const ctx = leaseContext(studyId, '0x' + '11'.repeat(20));
    const sealed = sealTo(alice.publicKey, key, ctx);
    expect(openSealed(alice.privateKey, sealed, ctx).equals(key)).toBe(true);
    expect(() => openSealed(mallory.privateKey, sealed, ctx)).toThrow(DecryptionError);
    expect(() => openSealed(alice.privateKey, sealed, leaseContext(studyId, '0x' + '22'.repeat(20)))).toThrow(DecryptionError);
    // two seals of the same key differ (fresh ephemeral key and nonce)
    expect(sealTo(alice.publicKey, key, ctx).equals(sealed)).toBe(false);
  });

  it('a lease signature recovers the RO that signed exactly these terms', async () => {
    const ro = Wallet.createRandom();
    const domain = leaseDomain(31337, '0x' + '33'.repeat(20));
    const terms = leaseTerms(
      {
        studyId,
        radiologist: '0x' + '11'.repeat(20),
        recipientKey: generateX25519KeyPair().publicKey,
        issuedAt: 100,
        expiresAt: 200,
        reportKey: generateX25519KeyPair().publicKey,
      },
      randomBytes(93),
    );
    const sig = await signLease(ro, domain, terms);
    expect(leaseSigner(domain, terms, sig)).toBe(ro.address.toLowerCase());
    expect(leaseSigner(domain, { ...terms, expiresAt: 10_000 }, sig)).not.toBe(ro.address.toLowerCase());
    // the report key is signed too: the API cannot name another key for the report
    expect(leaseSigner(domain, { ...terms, reportKey: generateX25519KeyPair().publicKey }, sig)).not.toBe(ro.address.toLowerCase());
  });
});
