import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { decryptUnder, encryptUnder } from '#lease';
import { describe, expect, it } from 'vitest';
import { LEAF_BYTES, leafHashesOf, merkleRootOf, merkleRootOfRoots } from './merkle.js';

// The store/read path's faster code (flat Merkle folding, sliced AES-GCM into reused buffers) must give the same
// bytes and hashes as the plain constructions it replaces: checked here against those, written out the slow way.
const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();

function referenceRoot(blob: Buffer): Buffer {
  let level: Buffer[] = [];
  for (let at = 0; at < blob.length; at += LEAF_BYTES) level.push(sha(Buffer.of(0), blob.subarray(at, at + LEAF_BYTES)));
  if (level.length === 0) return sha();
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? sha(Buffer.of(1), level[i], level[i + 1]) : level[i]);
    level = up;
  }
  return level[0];
}

function referenceEnvelope(key: Buffer, nonce: Buffer, plaintext: Buffer, context: string): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(context));
  return Buffer.concat([Buffer.of(1), nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

describe('storage fast path', () => {
  it('folds a blob to the same Merkle root as the reference tree, for every shape up to a 4 MiB chunk', () => {
    const sizes = [0, 1, 1023, 1024, 1025, 3 * 1024 + 7, 5 * 1024, 33 * 1024 - 100, 4 * 1024 * 1024 - 29, 4 * 1024 * 1024];
    for (const size of sizes) {
      const blob = randomBytes(size);
      expect(merkleRootOf(blob)).toEqual(referenceRoot(blob));
      expect(merkleRootOf(blob)).toEqual(size === 0 ? sha() : merkleRootOfRoots(leafHashesOf(blob)));
    }
  });

  it('seals the same envelope as one AES-256-GCM pass, with or without a reused buffer, and opens it', () => {
    const key = randomBytes(32);
    const into = Buffer.alloc(4 * 1024 * 1024, 0xee);
    for (const size of [0, 1, 65535, 65536, 65537, 200_000, 4 * 1024 * 1024 - 29]) {
      const plaintext = randomBytes(size);
      for (const sealed of [encryptUnder(key, plaintext, 'ctx'), encryptUnder(key, plaintext, 'ctx', into)]) {
        expect(sealed.length).toBe(size + 29);
        // Buffer#equals, not toEqual: vitest compares megabytes element by element for minutes
        expect(sealed.equals(referenceEnvelope(key, sealed.subarray(1, 13), plaintext, 'ctx'))).toBe(true);
        expect(decryptUnder(key, sealed, 'ctx').equals(plaintext)).toBe(true);
        expect(decryptUnder(key, sealed, 'ctx', Buffer.alloc(size + 1)).equals(plaintext)).toBe(true);
        const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
        d.setAAD(Buffer.from('ctx'));
        d.setAuthTag(sealed.subarray(sealed.length - 16));
        expect(Buffer.concat([d.update(sealed.subarray(13, sealed.length - 16)), d.final()]).equals(plaintext)).toBe(true);
      }
      const tampered = Buffer.from(encryptUnder(key, plaintext, 'ctx'));
      tampered[tampered.length >> 1] ^= 1;
      expect(() => decryptUnder(key, tampered, 'ctx', Buffer.alloc(size))).toThrow();
    }
    expect(() => encryptUnder(key, Buffer.alloc(100), 'ctx', Buffer.alloc(128))).toThrow(RangeError);
  });
});
