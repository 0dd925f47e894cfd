import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateStudyKey } from '#lease';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storeStudy } from './chunk.js';
import { FsBlobStore } from './fs-blob-store.js';
import { DEFAULT_CHUNK_BYTES, ENVELOPE_OVERHEAD } from './manifest.js';
import { readStudy } from './reader.js';

const STUDY = '0x' + 'ab'.repeat(32);

// its own file, so that the process has not grown on other tests' data before the baseline is taken
describe('memory while storing and reading a large study', () => {
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

  it('streams a 200 MB study through store and read with memory bounded by a few chunks, not by the study', async () => {
    // MEM_MB=1000 tries a larger study: the growth stays about the same (measured here: 76 MiB at 200 MB, 92 MiB at 500 MB,
    // most of it 4 MiB buffers the collector has not reclaimed yet); holding the study would add its whole size
    const TOTAL = Number(process.env.MEM_MB ?? 200) * 1024 * 1024;
    const PIECE = 64 * 1024;
    let peak = 0;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage().rss);
    };
    // generated on the fly: a counter in every piece makes each piece, and so each chunk, different
    async function* generate(hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
      for (let at = 0, k = 0; at < TOTAL; at += PIECE, k++) {
        const piece = Buffer.alloc(PIECE, k & 0xff);
        piece.writeUInt32BE(k, 0);
        hash.update(piece);
        sample();
        yield piece;
      }
    }
    const before = process.memoryUsage().rss;
    const inHash = createHash('sha256');
    const m = await storeStudy(generate(inHash), { studyId: STUDY, studyKey: key, store });
    expect(m.plaintextLength).toBe(TOTAL);
    expect(m.chunks.length).toBe(Math.ceil(TOTAL / (DEFAULT_CHUNK_BYTES - ENVELOPE_OVERHEAD)));

    const outHash = createHash('sha256');
    for await (const part of readStudy(m, { studyKey: key, store, expectedRoot: m.merkleRoot })) {
      outHash.update(part as Buffer);
      sample();
    }
    expect(outHash.digest('hex')).toBe(inHash.digest('hex'));
    const growthMiB = (peak - before) / 2 ** 20;
    console.log(`${TOTAL / 2 ** 20} MiB study: peak RSS growth ${growthMiB.toFixed(1)} MiB`);
    expect(growthMiB).toBeLessThan(100);
  });
});
