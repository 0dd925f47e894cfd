import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generateStudyKey } from '#lease';
import { describe, expect, it } from 'vitest';
import { storeStudy } from './chunk.js';
import { FramingError, frameInstances, unframeInstances } from './framing.js';
import { FsBlobStore } from './fs-blob-store.js';
import { readStudy } from './reader.js';

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('framing instances into one study stream', () => {
  it('gives back the same instances (empty ones included) through storage, whatever the chunk boundaries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openread-framing-'));
    try {
      const store = new FsBlobStore({ root: dir });
      const key = generateStudyKey();
      const instances = [randomBytes(10), Buffer.alloc(0), randomBytes(9000), randomBytes(1), randomBytes(20_000)];
      const m = await storeStudy(frameInstances(instances), { studyId: '0x' + '11'.repeat(32), studyKey: key, store, chunkBytes: 4096 });
      expect(m.plaintextLength).toBe(instances.reduce((n, i) => n + 8 + i.length, 0));
      expect(await all(unframeInstances(readStudy(m, { studyKey: key, store })))).toEqual(instances);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('splits correctly when frames arrive one byte at a time, and refuses a stream cut inside a frame', async () => {
    const instances = [randomBytes(5), randomBytes(300)];
    const bytes = Buffer.concat(await all(frameInstances(instances)));
    const byteWise = Readable.from(Array.from(bytes, (b) => Buffer.of(b)));
    expect(await all(unframeInstances(byteWise))).toEqual(instances);
    await expect(all(unframeInstances(Readable.from([bytes.subarray(0, bytes.length - 1)])))).rejects.toThrow(FramingError);
    await expect(all(unframeInstances(Readable.from([bytes.subarray(0, 3)])))).rejects.toThrow(FramingError);
  });
});
