import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { assertContentAddress, type BlobStore } from './blob-store.js';
import { StorageError } from './errors.js';

export interface FsBlobStoreOptions {
  /** the store's directory (created if missing) */
  root: string;
  /** how long one filesystem operation may take before it counts as STORAGE_UNAVAILABLE; default 30 s */
  deadlineMs?: number;
}

/**
 * Blobs as files under `root/ab/cd/<hash>`. A put writes a temporary file in `root/.tmp`, flushes it to disk and
 * renames it into place, so a reader sees a whole blob or none, and a crash leaves only a temporary file.
 */
export class FsBlobStore implements BlobStore {
  private readonly root: string;
  private readonly deadlineMs: number;

  constructor(options: FsBlobStoreOptions) {
    this.root = options.root;
    this.deadlineMs = options.deadlineMs ?? 30_000;
  }

  pathOf(hash: string): string {
    assertContentAddress(hash);
    return join(this.root, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  async put(hash: string, bytes: Buffer): Promise<void> {
    const path = this.pathOf(hash);
    if (createHash('sha256').update(bytes).digest('hex') !== hash) throw new RangeError('the bytes do not hash to their address');
    await this.io('put', async () => {
      if (await exists(path)) return; // content-addressed: the same name is the same bytes
      const tmpDir = join(this.root, '.tmp');
      await mkdir(tmpDir, { recursive: true });
      await mkdir(join(path, '..'), { recursive: true });
      const tmp = join(tmpDir, `${hash}.${randomBytes(6).toString('hex')}`);
      try {
        const file = await open(tmp, 'wx');
        try {
          await file.writeFile(bytes);
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(tmp, path);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
    });
  }

  async get(hash: string): Promise<Readable> {
    const path = this.pathOf(hash);
    const file = await this.io('get', () => open(path, 'r'));
    return file.createReadStream();
  }

  async has(hash: string): Promise<boolean> {
    const path = this.pathOf(hash);
    return this.io('has', () => exists(path));
  }

  /** Runs one filesystem step under the deadline; ENOENT is STORAGE_NOT_FOUND, any other failure STORAGE_UNAVAILABLE. */
  private async io<T>(what: string, step: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StorageError('STORAGE_UNAVAILABLE', `fs ${what}: no answer within ${this.deadlineMs} ms`)),
        this.deadlineMs,
      );
    });
    try {
      return await Promise.race([step(), deadline]);
    } catch (e) {
      if (e instanceof StorageError || e instanceof RangeError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && what !== 'put') throw new StorageError('STORAGE_NOT_FOUND', `fs ${what}`);
      throw new StorageError('STORAGE_UNAVAILABLE', `fs ${what}: ${code ?? 'error'}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
