import {
  KeyObject,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';

/**
 * The lease protocol's primitives, all from node:crypto, no home-made ciphers:
 *
 *  - payloads: AES-256-GCM under a random per-study key, 96-bit random nonce, the study ID as associated data
 *    (a ciphertext moved to another study does not decrypt).
 *    envelope = 0x01 ‖ nonce(12) ‖ ciphertext ‖ tag(16)
 *  - sealing a small secret (a study key to its RO, a lease key to a reader, a report) to a recipient's X25519 public key: ECIES with an ephemeral
 *    X25519 key, HKDF-SHA256(shared secret, salt = ephemeral pub ‖ recipient pub, info = "openread/ecies-x25519/v1")
 *    → AES-256-GCM key, associated data = the caller's context (study ID, recipient account).
 *    sealed = 0x01 ‖ ephemeral pub(32) ‖ nonce(12) ‖ ciphertext ‖ tag(16)
 *
 * Hazard: GCM nonces are random, so one key must not encrypt more than ~2^32 messages; each study key encrypts
 * exactly one payload and each ECIES key (derived from a fresh ephemeral key) exactly one message.
 */

const VERSION = 0x01;
const NONCE = 12;
const TAG = 16;
const INFO = Buffer.from('openread/ecies-x25519/v1');
// DER prefixes of X25519 SubjectPublicKeyInfo / PKCS#8 private keys: the raw 32-byte key follows
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export class DecryptionError extends Error {
  constructor() {
    super('decryption failed: wrong key, wrong context or tampered ciphertext');
  }
}

export interface X25519KeyPair {
  /** raw 32-byte public key, 0x-hex */
  publicKey: string;
  /** raw 32-byte private key, 0x-hex: stays with its owner, never sent to the API */
  privateKey: string;
}

const hex = (b: Buffer) => `0x${b.toString('hex')}`;
const unhex = (s: string) => Buffer.from(s.replace(/^0x/, ''), 'hex');

export function generateX25519KeyPair(): X25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: hex(publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length)),
    privateKey: hex(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length)),
  };
}

/** Parses a raw 32-byte X25519 public key (0x-hex); throws RangeError if it is not one. */
export function x25519PublicKey(raw: string | Buffer): KeyObject {
  const bytes = typeof raw === 'string' ? unhex(raw) : raw;
  if (bytes.length !== 32 || (typeof raw === 'string' && !/^0x[0-9a-fA-F]{64}$/.test(raw)))
    throw new RangeError('an X25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes]), format: 'der', type: 'spki' });
}

function x25519PrivateKey(raw: string): KeyObject {
  const bytes = unhex(raw);
  if (bytes.length !== 32) throw new RangeError('an X25519 private key is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, bytes]), format: 'der', type: 'pkcs8' });
}

/** The raw X25519 public key (0x-hex) of a raw private key; throws RangeError if it is not 32 bytes. */
export function x25519PublicFromPrivate(privateKey: string): string {
  return hex(createPublicKey(x25519PrivateKey(privateKey)).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
}

// Large messages (a study's 4 MiB chunks) go through the cipher in slices of this size, each copied into the one
// output buffer: one update() over megabytes cost several times the CPU of the cipher itself (measured on Node 20:
// about 4-7 ms per MiB against about 1), and every concatenation after it was another pass over every byte.
const SLICE = 64 * 1024;

function cipherInto(cipher: { update(data: Buffer): Buffer }, input: Buffer, out: Buffer, at: number): number {
  for (let i = 0; i < input.length; i += SLICE) at += cipher.update(input.subarray(i, i + SLICE)).copy(out, at);
  return at;
}

/** prefix ‖ nonce ‖ ciphertext ‖ tag, written at the start of `into` when given (a view of it is returned). */
function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer, prefix: Buffer = Buffer.alloc(0), into?: Buffer): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const size = prefix.length + NONCE + plaintext.length + TAG;
  if (into && into.length < size) throw new RangeError(`the envelope needs ${size} bytes`);
  const out = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  prefix.copy(out, 0);
  nonce.copy(out, prefix.length);
  let at = cipherInto(cipher, plaintext, out, prefix.length + NONCE);
  at += cipher.final().copy(out, at); // nothing for GCM, a stream mode
  cipher.getAuthTag().copy(out, at);
  return out;
}

function gcmOpen(key: Buffer, sealed: Buffer, aad: Buffer, into?: Buffer): Buffer {
  if (sealed.length < NONCE + TAG) throw new DecryptionError();
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  const size = sealed.length - NONCE - TAG;
  if (into && into.length < size) throw new RangeError(`the plaintext needs ${size} bytes`);
  const out = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  try {
    const at = cipherInto(decipher, sealed.subarray(NONCE, sealed.length - TAG), out, 0);
    decipher.final().copy(out, at); // checks the tag: until it has, `out` is not returned
  } catch {
    throw new DecryptionError();
  }
  return out;
}

/** A fresh random AES-256 study key. */
export const generateStudyKey = (): Buffer => randomBytes(32);

const payloadAad = (studyId: string) => Buffer.from(`openread/payload/v1|${studyId.toLowerCase()}`);

export function encryptPayload(plaintext: Buffer, studyKey: Buffer, studyId: string): Buffer {
  if (studyKey.length !== 32) throw new RangeError('a study key is 32 bytes');
  return gcmSeal(studyKey, plaintext, payloadAad(studyId), Buffer.of(VERSION));
}

export function decryptPayload(envelope: Buffer, studyKey: Buffer, studyId: string): Buffer {
  if (envelope[0] !== VERSION || studyKey.length !== 32) throw new DecryptionError();
  return gcmOpen(studyKey, envelope.subarray(1), payloadAad(studyId));
}

/**
 * AES-256-GCM under `key` with `context` as associated data, in the payload envelope (0x01 ‖ nonce ‖ ciphertext ‖ tag):
 * what an exchange lease's ciphertext uses, with a fresh key per lease and a context naming the lease (exchange-lease.ts).
 * `into`, when given, receives the envelope (the result is a view of its start, `plaintext` + 29 bytes): a caller
 * sealing many large messages one after the other (a study's chunks) reuses one buffer instead of fresh memory each
 * time (first touches of fresh megabytes cost more CPU than the cipher). The caller must not reuse `into` while the
 * previous envelope is still needed; `plaintext` and `into` must not overlap.
 */
export function encryptUnder(key: Buffer, plaintext: Buffer, context: string, into?: Buffer): Buffer {
  if (key.length !== 32) throw new RangeError('an AES-256 key is 32 bytes');
  return gcmSeal(key, plaintext, Buffer.from(context), Buffer.of(VERSION), into);
}

/**
 * Opens what `encryptUnder` sealed; throws DecryptionError with a wrong key, a wrong context or tampering.
 * `into`, when given, receives the plaintext (the result is a view of its start), as for encryptUnder; after a
 * DecryptionError it holds unauthenticated bytes, which the caller must not use.
 */
export function decryptUnder(key: Buffer, envelope: Buffer, context: string, into?: Buffer): Buffer {
  if (envelope[0] !== VERSION || key.length !== 32) throw new DecryptionError();
  return gcmOpen(key, envelope.subarray(1), Buffer.from(context), into);
}

function eciesKey(shared: Buffer, ephemeralPub: Buffer, recipientPub: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeralPub, recipientPub]), INFO, 32));
}

/** Seals `plaintext` to an X25519 public key; `context` is bound as associated data and must match on open. */
export function sealTo(recipientPublicKey: string, plaintext: Buffer, context: string): Buffer {
  const recipientPub = unhex(recipientPublicKey);
  const recipient = x25519PublicKey(recipientPublicKey);
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPub = ephemeral.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const key = eciesKey(shared, ephemeralPub, recipientPub);
  return Buffer.concat([Buffer.of(VERSION), ephemeralPub, gcmSeal(key, plaintext, Buffer.from(context))]);
}

/** Opens what `sealTo` sealed; throws DecryptionError with a wrong key, a wrong context or tampering. */
export function openSealed(recipientPrivateKey: string, sealed: Buffer, context: string): Buffer {
  if (sealed.length < 1 + 32 + NONCE + TAG || sealed[0] !== VERSION) throw new DecryptionError();
  const ephemeralPub = sealed.subarray(1, 33);
  const privateKey = x25519PrivateKey(recipientPrivateKey);
  const recipientPub = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: x25519PublicKey(Buffer.from(ephemeralPub)) });
  } catch {
    throw new DecryptionError(); // e.g. a low-order ephemeral point
  }
  return gcmOpen(eciesKey(shared, ephemeralPub, recipientPub), sealed.subarray(33), Buffer.from(context));
}

/** Associated data binding the RO's own copy of the study key to the study. */
export const roKeyContext = (studyId: string) => `openread/ro-key/v1|${studyId.toLowerCase()}`;
/** Associated data binding a sealed report to its study. */
export const reportContext = (studyId: string) => `openread/report/v1|${studyId.toLowerCase()}`;
