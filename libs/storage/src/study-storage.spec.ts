import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generateStudyKey } from '#lease';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storeStudy } from './chunk.js';
import { StudyIntegrityError } from './errors.js';
import { FsBlobStore } from './fs-blob-store.js';
import { DEFAULT_CHUNK_BYTES, ENVELOPE_OVERHEAD, hex0x, rootOfChunks, type StudyManifest } from './manifest.js';
import { LEAF_BYTES, MerkleTree, leafHashesOf, verifyProof } from './merkle.js';
import { leafCountOfStudy, proveLeaf, readStudy } from './reader.js';

const STUDY = '0x' + 'ab'.repeat(32);
const SMALL = 4096; // 4 leaves per chunk: many chunks from little data
const PLAIN = SMALL - ENVELOPE_OVERHEAD;

/** Feeds `bytes` in pieces of uneven sizes, as a network stream would. */
function piecewise(bytes: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = [1, 700, 5000, 65536, 13][k % 5];
    pieces.push(bytes.subarray(at, at + n));
    at += n;
  }
  return Readable.from(pieces);
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function failureOf(stream: Readable): Promise<StudyIntegrityError> {
  const err = await collect(stream).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StudyIntegrityError);
  return err as StudyIntegrityError;
}

describe('storing a study as encrypted chunks and reading it back', () => {
  let dir: string;
  let store: FsBlobStore;
  const key = generateStudyKey();
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openread-study-'));
    store = new FsBlobStore({ root: dir });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips studies of every size around the chunk boundaries', async () => {
    for (const size of [0, 1, PLAIN - 1, PLAIN, PLAIN + 1, 2 * PLAIN, 3 * PLAIN + 17, 50_000]) {
      const bytes = randomBytes(size);
      const m = await storeStudy(piecewise(bytes), { studyId: STUDY, studyKey: key, store, chunkBytes: SMALL });
      expect(m.plaintextLength).toBe(size);
      expect(m.chunks.length).toBe(Math.max(1, Math.ceil(size / PLAIN)));
      expect(m.chunks.slice(0, -1).every((c) => c.size === SMALL)).toBe(true);
      expect((await collect(readStudy(m, { studyKey: key, store, expectedRoot: m.merkleRoot }))).equals(bytes)).toBe(true);
    }
  });

  it('writes 4 MiB chunks by default, each stored under the SHA-256 of its ciphertext, none holding the plaintext', async () => {
    const bytes = randomBytes(9 * 1024 * 1024);
    const m = await storeStudy(Readable.from([bytes]), { studyId: STUDY, studyKey: key, store });
    expect(m.chunkBytes).toBe(DEFAULT_CHUNK_BYTES);
    expect(m.chunks.map((c) => c.size)).toEqual([
      DEFAULT_CHUNK_BYTES,
      DEFAULT_CHUNK_BYTES,
      bytes.length - 2 * (DEFAULT_CHUNK_BYTES - ENVELOPE_OVERHEAD) + ENVELOPE_OVERHEAD,
    ]);
    for (const c of m.chunks) {
      const blob = await readFile(store.pathOf(c.hash));
      expect(createHash('sha256').update(blob).digest('hex')).toBe(c.hash);
      expect(blob.includes(bytes.subarray(0, 32))).toBe(false);
      expect(blob.includes(bytes.subarray(DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_BYTES + 32))).toBe(false);
    }
    expect((await collect(readStudy(m, { studyKey: key, store }))).equals(bytes)).toBe(true);
  });

  it("the manifest's root is the Merkle root over every chunk's 1 KiB leaves, and proves each leaf from one chunk", async () => {
    const m = await storeStudy(piecewise(randomBytes(5 * PLAIN + 1500)), { studyId: STUDY, studyKey: key, store, chunkBytes: SMALL });
    const blobs = await Promise.all(m.chunks.map((c) => readFile(store.pathOf(c.hash))));
    const leaves = blobs.flatMap((b) =>
      Array.from({ length: Math.ceil(b.length / LEAF_BYTES) }, (_, i) => b.subarray(i * LEAF_BYTES, (i + 1) * LEAF_BYTES)),
    );
    // the whole tree built naively from all leaves agrees with the root made of the chunks' roots
    const full = new MerkleTree(blobs.flatMap((b) => leafHashesOf(b)));
    expect(hex0x(full.root)).toBe(m.merkleRoot);
    expect(leafCountOfStudy(m)).toBe(leaves.length);
    const root = Buffer.from(m.merkleRoot.slice(2), 'hex');
    for (let i = 0; i < leaves.length; i++) {
      const { leaf, proof } = await proveLeaf(m, store, i);
      expect(leaf).toEqual(leaves[i]);
      expect(proof).toEqual(full.proofOf(i));
      expect(verifyProof(root, leaf, proof)).toBe(true);
      const tampered = Buffer.from(leaf);
      tampered[0] ^= 0x80;
      expect(verifyProof(root, tampered, proof)).toBe(false);
    }
  });

  describe('a reader refuses, and names the chunk', () => {
    let m: StudyManifest;
    let bytes: Buffer;
    beforeEach(async () => {
      bytes = randomBytes(4 * PLAIN + 100);
      m = await storeStudy(piecewise(bytes), { studyId: STUDY, studyKey: key, store, chunkBytes: SMALL });
    });
    /** A manifest an attacker rewrote consistently (sizes, length, root), so only the chunks can tell. */
    const resealed = (chunks: StudyManifest['chunks']): StudyManifest => ({
      ...m,
      chunks,
      plaintextLength: chunks.reduce((n, c) => n + c.size - ENVELOPE_OVERHEAD, 0),
      merkleRoot: hex0x(rootOfChunks(chunks)),
    });

    it('a chunk altered in storage: CHUNK_CORRUPTED, before anything of it is emitted', async () => {
      const path = store.pathOf(m.chunks[2].hash);
      const blob = await readFile(path);
      blob[100] ^= 1;
      await writeFile(path, blob);
      const emitted: Buffer[] = [];
      const stream = readStudy(m, { studyKey: key, store });
      stream.on('data', (d: Buffer) => emitted.push(d));
      const err = await new Promise<StudyIntegrityError>((resolve) => stream.on('error', resolve));
      expect([err.reason, err.chunkIndex]).toEqual(['CHUNK_CORRUPTED', 2]);
      expect(Buffer.concat(emitted)).toEqual(bytes.subarray(0, 2 * PLAIN));
    });

    it('a chunk substituted by another whole chunk: CHUNK_CORRUPTED', async () => {
      await writeFile(store.pathOf(m.chunks[1].hash), await readFile(store.pathOf(m.chunks[0].hash)));
      const err = await failureOf(readStudy(m, { studyKey: key, store }));
      expect([err.reason, err.chunkIndex]).toEqual(['CHUNK_CORRUPTED', 1]);
    });

    it('a chunk missing from storage: CHUNK_MISSING', async () => {
      await unlink(store.pathOf(m.chunks[3].hash));
      const err = await failureOf(readStudy(m, { studyKey: key, store }));
      expect([err.reason, err.chunkIndex]).toEqual(['CHUNK_MISSING', 3]);
    });

    it('chunks reordered in a consistently rewritten manifest: CHUNK_NOT_AUTHENTIC (the position is sealed)', async () => {
      const c = m.chunks;
      const err = await failureOf(readStudy(resealed([c[1], c[0], ...c.slice(2)]), { studyKey: key, store }));
      expect([err.reason, err.chunkIndex]).toEqual(['CHUNK_NOT_AUTHENTIC', 0]);
    });

    it('a study cut short in a consistently rewritten manifest: CHUNK_NOT_AUTHENTIC (the last chunk is sealed as last)', async () => {
      const err = await failureOf(readStudy(resealed(m.chunks.slice(0, 3)), { studyKey: key, store }));
      expect([err.reason, err.chunkIndex]).toEqual(['CHUNK_NOT_AUTHENTIC', 2]);
    });

    it("another study's chunk under the same key: CHUNK_NOT_AUTHENTIC (the study is sealed)", async () => {
      const other = await storeStudy(piecewise(randomBytes(4 * PLAIN + 100)), {
        studyId: '0x' + 'cd'.repeat(32),
        studyKey: key,
        store,
        chunkBytes: SMALL,
      });
      const err = await failureOf(readStudy(resealed([m.chunks[0], other.chunks[1], ...m.chunks.slice(2)]), { studyKey: key, store }));
      expect([err.reason, err.chunkIndex]).toEqual(['CHUNK_NOT_AUTHENTIC', 1]);
    });

    it('the wrong study key: CHUNK_NOT_AUTHENTIC at the first chunk', async () => {
      const err = await failureOf(readStudy(m, { studyKey: generateStudyKey(), store }));
      expect([err.reason, err.chunkIndex]).toEqual(['CHUNK_NOT_AUTHENTIC', 0]);
    });

    it('a manifest other than the one recorded: MANIFEST_MISMATCH; one that contradicts itself: MANIFEST_INVALID', async () => {
      const c = m.chunks;
      const swapped = resealed([c[1], c[0], ...c.slice(2)]);
      expect((await failureOf(readStudy(swapped, { studyKey: key, store, expectedRoot: m.merkleRoot }))).reason).toBe('MANIFEST_MISMATCH');
      expect((await failureOf(readStudy({ ...m, plaintextLength: m.plaintextLength + 1 }, { studyKey: key, store }))).reason).toBe(
        'MANIFEST_INVALID',
      );
      expect((await failureOf(readStudy({ ...m, chunks: [c[1], c[0], ...c.slice(2)] }, { studyKey: key, store }))).reason).toBe(
        'MANIFEST_INVALID',
      );
      const err = await failureOf(readStudy({ ...m, merkleRoot: hex0x(randomBytes(32)) }, { studyKey: key, store }));
      expect([err.reason, err.chunkIndex]).toEqual(['MANIFEST_INVALID', undefined]);
    });
  });
});
