import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { assertContentAddress, type BlobStore } from './blob-store.js';
import { StorageError } from './errors.js';

export interface S3BlobStoreOptions {
  /** a configured client of any S3-compatible API (endpoint, region, credentials, forcePathStyle as it needs) */
  client: S3Client;
  bucket: string;
  /** key prefix of the chunks; default `chunks/` */
  prefix?: string;
  /** how long one request (the client's own retries included) may take before it is STORAGE_UNAVAILABLE; default 30 s */
  deadlineMs?: number;
}

/**
 * Blobs as objects `<prefix><hash>` in one bucket of S3-compatible storage. An object appears whole or not at all (a
 * PUT is atomic), so a put needs no temporary name; a put of a blob already there sends nothing.
 */
export class S3BlobStore implements BlobStore {
  private readonly prefix: string;
  private readonly deadlineMs: number;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.prefix = options.prefix ?? 'chunks/';
    this.deadlineMs = options.deadlineMs ?? 30_000;
  }

  keyOf(hash: string): string {
    assertContentAddress(hash);
    return `${this.prefix}${hash}`;
  }

  async put(hash: string, bytes: Buffer): Promise<void> {
    const Key = this.keyOf(hash);
    const digest = createHash('sha256').update(bytes).digest();
    if (digest.toString('hex') !== hash) throw new RangeError('the bytes do not hash to their address');
    if (await this.has(hash)) return;
    await this.send('put', (abortSignal) =>
      this.options.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key, Body: bytes, ContentLength: bytes.length }), {
        abortSignal,
      }),
    );
  }

  async get(hash: string): Promise<Readable> {
    const Key = this.keyOf(hash);
    // the deadline covers the response's headers; the body then streams at the reader's pace
    const out = await this.send('get', (abortSignal) =>
      this.options.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key }), { abortSignal }),
    );
    if (!(out.Body instanceof Readable)) throw new StorageError('STORAGE_UNAVAILABLE', 's3 get: no body stream');
    return out.Body;
  }

  async has(hash: string): Promise<boolean> {
    const Key = this.keyOf(hash);
    try {
      await this.send('has', (abortSignal) =>
        this.options.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key }), { abortSignal }),
      );
      return true;
    } catch (e) {
      if (e instanceof StorageError && e.code === 'STORAGE_NOT_FOUND') return false;
      throw e;
    }
  }

  /** One request under the deadline; 404 is STORAGE_NOT_FOUND, anything else that fails STORAGE_UNAVAILABLE. */
  private async send<T>(what: string, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.deadlineMs);
    try {
      return await request(abort.signal);
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404)
        throw new StorageError('STORAGE_NOT_FOUND', `s3 ${what}`);
      const why = abort.signal.aborted ? `no answer within ${this.deadlineMs} ms` : (err.name ?? 'error');
      throw new StorageError('STORAGE_UNAVAILABLE', `s3 ${what}: ${why}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
