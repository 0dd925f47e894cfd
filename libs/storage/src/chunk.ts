import { createHash, hkdfSync } from 'node:crypto';
import type { Readable } from 'node:stream';
import { encryptUnder } from '#lease';
import type { BlobStore } from './blob-store.js';
import { DEFAULT_CHUNK_BYTES, ENVELOPE_OVERHEAD, hex0x, rootOfChunks, type ManifestChunk, type StudyManifest } from './manifest.js';
import { LEAF_BYTES, merkleRootOf } from './merkle.js';

/**
 * The key the chunks of a study are sealed under, derived from the study key so that chunks never share a key with
 * the study key's other uses (the payload envelope, sealed copies). Random 96-bit nonces under one key are safe for
 * far more chunks than any study has (2^32 messages; a 1 TB study is 2^18 chunks).
 */
export function chunkKeyOf(studyKey: Buffer, studyId: string): Buffer {
  if (studyKey.length !== 32) throw new RangeError('a study key is 32 bytes');
  return Buffer.from(hkdfSync('sha256', studyKey, Buffer.from(studyId.toLowerCase()), Buffer.from('openread/chunks/v1'), 32));
}

/**
 * Associated data of chunk `index`: the study, the position and whether it is the last chunk (the STREAM
 * construction's final flag). A chunk moved to another position or study does not decrypt, and a study cut after
 * a chunk that was not sealed as the last one is detected even if the manifest was cut to match.
 */
export const chunkContext = (studyId: string, index: number, last: boolean) =>
  `openread/chunk/v1|${studyId.toLowerCase()}|${index}|${last ? 'last' : 'more'}`;

export interface StoreStudyOptions {
  studyId: string;
  studyKey: Buffer;
  store: BlobStore;
  /** stored size of each chunk but the last: a power of two ≥ 1 KiB; default 4 MiB */
  chunkBytes?: number;
}

/**
 * Streams a study's bytes into encrypted, content-addressed chunks in `store` and returns the manifest. Holds at most
 * two chunks of plaintext (one is held back until the next byte shows it is not the last) and one of ciphertext;
 * the source is read only as fast as the store accepts chunks.
 *
 * The study's bytes are one stream, not one blob per instance, so that chunk count and size do not depend on how
 * the study splits into instances (thousands of small CT slices or a few multi-frame files); framing.ts frames
 * de-identified instances into such a stream and back.
 */
export async function storeStudy(source: Readable | AsyncIterable<Buffer>, options: StoreStudyOptions): Promise<StudyManifest> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < LEAF_BYTES || (chunkBytes & (chunkBytes - 1)) !== 0)
    throw new RangeError('chunkBytes is a power of two of at least 1024');
  const plainBytes = chunkBytes - ENVELOPE_OVERHEAD;
  const key = chunkKeyOf(options.studyKey, options.studyId);
  const chunks: ManifestChunk[] = [];
  let plaintextLength = 0;

  // one envelope buffer for every chunk: a put has settled (BlobStore: it holds no reference after) before the next seal
  const envelope = Buffer.allocUnsafe(chunkBytes);
  const seal = async (plain: Buffer, last: boolean) => {
    const blob = encryptUnder(key, plain, chunkContext(options.studyId, chunks.length, last), envelope);
    const hash = createHash('sha256').update(blob).digest('hex');
    const root = hex0x(merkleRootOf(blob));
    await options.store.put(hash, blob);
    chunks.push({ hash, size: blob.length, root });
  };

  let held: Buffer | null = null; // a full chunk waiting to learn whether it is the last
  let current: Buffer = Buffer.allocUnsafe(plainBytes);
  let filled = 0;
  for await (const piece of source as AsyncIterable<Buffer | string>) {
    const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
    plaintextLength += bytes.length;
    let at = 0;
    while (at < bytes.length) {
      if (filled === plainBytes) {
        if (held) await seal(held, false);
        // two plaintext buffers, swapped: a sealed chunk's buffer is reused (encryptUnder copied it)
        const free: Buffer = held ?? Buffer.allocUnsafe(plainBytes);
        held = current;
        current = free;
        filled = 0;
      }
      const n = bytes.copy(current, filled, at, Math.min(bytes.length, at + plainBytes - filled));
      filled += n;
      at += n;
    }
  }
  if (filled > 0) {
    if (held) await seal(held, false);
    await seal(current.subarray(0, filled), true);
  } else if (held) {
    await seal(held, true);
  } else {
    await seal(Buffer.alloc(0), true); // an empty study still has its sealed last chunk
  }

  return {
    version: 1,
    algorithm: 'AES-256-GCM/HKDF-SHA256/v1',
    studyId: options.studyId.toLowerCase(),
    chunkBytes,
    leafBytes: LEAF_BYTES,
    plaintextLength,
    chunks,
    merkleRoot: hex0x(rootOfChunks(chunks)),
  };
}
