import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  decryptPayload,
  encryptPayload,
  generateStudyKey,
  generateX25519KeyPair,
  openSealed,
  roKeyContext,
  sealTo,
} from './crypto.js';

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
    const ctx = roKeyContext(studyId);
    const sealed = sealTo(alice.publicKey, key, ctx);
    expect(openSealed(alice.privateKey, sealed, ctx).equals(key)).toBe(true);
    expect(() => openSealed(mallory.privateKey, sealed, ctx)).toThrow(DecryptionError);
    expect(() => openSealed(alice.privateKey, sealed, roKeyContext(`0x${'cd'.repeat(32)}`))).toThrow(DecryptionError);
    // two seals of the same key differ (fresh ephemeral key and nonce)
    expect(sealTo(alice.publicKey, key, ctx).equals(sealed)).toBe(false);
  });
});
