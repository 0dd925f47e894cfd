import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from './errors.js';
import { FsBlobStore } from './fs-blob-store.js';

const address = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('FsBlobStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openread-blobs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores a blob under its content address, streams it back, and a second put of it is a no-op', async () => {
    const store = new FsBlobStore({ root: dir });
    const blob = randomBytes(300_000);
    const hash = address(blob);
    expect(await store.has(hash)).toBe(false);
    await store.put(hash, blob);
    expect(store.pathOf(hash)).toBe(join(dir, hash.slice(0, 2), hash.slice(2, 4), hash));
    expect((await readFile(store.pathOf(hash))).equals(blob)).toBe(true);
    expect(await store.has(hash)).toBe(true);
    const parts: Buffer[] = [];
    for await (const p of await store.get(hash)) parts.push(p as Buffer);
    expect(Buffer.concat(parts).equals(blob)).toBe(true);

    await store.put(hash, blob);
    await Promise.all([store.put(hash, blob), store.put(hash, blob)]);
    expect((await readFile(store.pathOf(hash))).equals(blob)).toBe(true);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]); // no temporary file left behind
  });

  it('concurrent puts of the same new blob leave one whole file', async () => {
    const store = new FsBlobStore({ root: dir });
    const blob = randomBytes(2_000_000);
    await Promise.all(Array.from({ length: 4 }, () => store.put(address(blob), blob)));
    expect((await readFile(store.pathOf(address(blob)))).equals(blob)).toBe(true);
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('refuses bytes that do not hash to their address, and an address that is not a SHA-256', async () => {
    const store = new FsBlobStore({ root: dir });
    await expect(store.put(address(Buffer.from('a')), Buffer.from('b'))).rejects.toThrow(RangeError);
    await expect(store.get('../../etc/passwd')).rejects.toThrow(RangeError);
    await expect(store.put('A'.repeat(64), Buffer.from('a'))).rejects.toThrow(RangeError);
  });

  it('answers STORAGE_NOT_FOUND for a blob that is not there (not retryable)', async () => {
    const store = new FsBlobStore({ root: dir });
    const err = await store.get(address(Buffer.from('never stored'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('STORAGE_NOT_FOUND');
    expect((err as StorageError).retryable).toBe(false);
  });

  it('answers STORAGE_UNAVAILABLE (retryable) when the store cannot be written or read', async () => {
    // the store's root is a regular file: every path under it fails with ENOTDIR, as a lost mount would
    const file = join(dir, 'not-a-directory');
    await writeFile(file, 'x');
    const store = new FsBlobStore({ root: file });
    const blob = Buffer.from('chunk');
    for (const attempt of [() => store.put(address(blob), blob), () => store.get(address(blob)), () => store.has(address(blob))]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('STORAGE_UNAVAILABLE');
      expect((err as StorageError).retryable).toBe(true);
      expect((err as StorageError).message).toMatch(/cannot be reached/);
    }
  });

  it('answers STORAGE_UNAVAILABLE when the filesystem does not answer within the deadline', async () => {
    // a FIFO with no writer: opening it for reading blocks, as a hung network mount does
    const { execFileSync } = await import('node:child_process');
    const store = new FsBlobStore({ root: dir, deadlineMs: 200 });
    const hash = address(Buffer.from('hung'));
    const path = store.pathOf(hash);
    execFileSync('mkdir', ['-p', join(path, '..')]);
    execFileSync('mkfifo', [path]);
    try {
      const err = await store.get(hash).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('STORAGE_UNAVAILABLE');
      expect((err as StorageError).detail).toMatch(/within 200 ms/);
    } finally {
      // release the thread still blocked in open(): a writer opening the FIFO lets it return
      await writeFile(path, '');
    }
  });
});
