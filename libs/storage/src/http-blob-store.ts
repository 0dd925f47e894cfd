import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';
import { assertContentAddress, type BlobStore } from './blob-store.js';
import { StorageError } from './errors.js';
import type { StudyManifest } from './manifest.js';

export interface HttpBlobStoreOptions {
  /** the API's base URL, e.g. http://localhost:4000 */
  url: string;
  /** a session token from the API's `login` (sent as `Authorization: Bearer …`) */
  token: string;
  /** the study whose chunks this store writes (its RO's depositor) or reads (a reader of the study) */
  studyId: string;
  /** how long one request may take (an upload of one chunk, its retries included; the start of a download), ms; default 60 s */
  deadlineMs?: number;
  /** waits between the retries of an interrupted upload or download, ms; default [0, 250, 1000, 3000, 5000] */
  retryDelays?: number[];
}

/** The API's storage endpoints (apps/api/src/storage): tus uploads, chunk and manifest reads. */
export const STORAGE_PATHS = {
  uploads: '/storage/uploads',
  chunk: (studyId: string, hash: string) => `/storage/studies/${studyId}/chunks/${hash}`,
  manifest: (studyId: string) => `/storage/studies/${studyId}/manifest`,
};

/** The manifest's media type on the wire (not application/json: its body limit is its own, not a GraphQL request's). */
export const MANIFEST_MEDIA_TYPE = 'application/vnd.openread.manifest+json';

/**
 * A BlobStore on the other side of the API, for one study: `storeStudy(…, { store: new HttpBlobStore(…) })` uploads
 * the encrypted chunks and `readStudy` downloads them (and verifies every one, as with any store).
 *
 * Uploads speak tus (tus-js-client): each chunk is one tus upload, so a connection cut mid-chunk resumes at the
 * offset the server has (HEAD, then PATCH of the rest), and a chunk the API already holds is not sent again (`has`
 * first). An upload that failed for good is remembered by hash: putting the same bytes again resumes it. Downloads
 * are plain GETs; one cut mid-body resumes with a Range request from the byte reached.
 */
export class HttpBlobStore implements BlobStore {
  private readonly base: string;
  private readonly deadlineMs: number;
  private readonly retryDelays: number[];
  /** upload URLs of chunks whose upload was interrupted for good: a later put of the same chunk resumes there */
  private readonly unfinished = new Map<string, string>();

  constructor(private readonly options: HttpBlobStoreOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.deadlineMs = options.deadlineMs ?? 60_000;
    this.retryDelays = options.retryDelays ?? [0, 250, 1000, 3000, 5000];
  }

  private get authorization(): string {
    return `Bearer ${this.options.token}`;
  }

  async put(hash: string, bytes: Buffer): Promise<void> {
    assertContentAddress(hash);
    if (createHash('sha256').update(bytes).digest('hex') !== hash) throw new RangeError('the bytes do not hash to their address');
    if (await this.has(hash)) return;
    await this.upload(hash, bytes);
    // a finished tus upload is not yet a stored chunk (the API verifies and stores it as the last PATCH ends): ask
    if (!(await this.has(hash))) throw new StorageError('STORAGE_UNAVAILABLE', 'http put: the upload finished but the chunk is not stored');
  }

  private upload(hash: string, bytes: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const upload = new tus.Upload(bytes, {
        endpoint: this.base + STORAGE_PATHS.uploads,
        uploadUrl: this.unfinished.get(hash) ?? null,
        metadata: { studyId: this.options.studyId, hash },
        headers: { Authorization: this.authorization },
        uploadSize: bytes.length,
        retryDelays: this.retryDelays,
        // Node: no URL storage across processes (a new run of storeStudy seals new chunks anyway: random nonces)
        storeFingerprintForResuming: false,
        onUploadUrlAvailable: () => {
          if (upload.url) this.unfinished.set(hash, upload.url);
        },
        onSuccess: () => {
          settled = true;
          clearTimeout(timer);
          this.unfinished.delete(hash);
          resolve();
        },
        onError: (e) => {
          settled = true;
          clearTimeout(timer);
          reject(uploadError(e));
        },
      });
      const timer = setTimeout(() => {
        if (settled) return;
        void upload.abort(false);
        reject(new StorageError('STORAGE_UNAVAILABLE', `http put: no answer within ${this.deadlineMs} ms`));
      }, this.deadlineMs);
      upload.start();
    });
  }

  async has(hash: string): Promise<boolean> {
    assertContentAddress(hash);
    const res = await this.request('has', STORAGE_PATHS.chunk(this.options.studyId, hash), { method: 'HEAD' });
    return res.status === 200;
  }

  /** Streams a chunk; a connection cut mid-body resumes with `Range: bytes=<received>-` (up to the retry count). */
  async get(hash: string): Promise<Readable> {
    assertContentAddress(hash);
    const path = STORAGE_PATHS.chunk(this.options.studyId, hash);
    const first = await this.request('get', path, { method: 'GET' });
    if (first.status === 404) {
      await first.body?.cancel();
      throw new StorageError('STORAGE_NOT_FOUND', 'http get');
    }
    const total = Number(first.headers.get('content-length'));
    const request = (at: number) => this.request('get', path, { method: 'GET', headers: { Range: `bytes=${at}-` } });
    const retryDelays = this.retryDelays;
    async function* body(): AsyncGenerator<Buffer> {
      let received = 0;
      let res: Response | null = first;
      for (let attempt = 0; ; attempt++) {
        try {
          if (!res) {
            res = await request(received);
            if (res.status !== 206) throw new StorageError('STORAGE_UNAVAILABLE', `http get: resumed with ${res.status}, not 206`);
          }
          for await (const part of Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)) {
            received += part.length;
            yield part as Buffer;
          }
          return;
        } catch (e) {
          res = null;
          // only a cut connection is resumed; the reader checks the bytes against the manifest either way
          if (e instanceof StorageError || attempt >= retryDelays.length || !(received < total)) throw asUnavailable(e, 'http get');
          await new Promise((r) => setTimeout(r, retryDelays[attempt]));
        }
      }
    }
    return Readable.from(body(), { objectMode: false });
  }

  /** Sends the study's manifest; the API accepts it once it verifies and every chunk it lists is stored. */
  async putManifest(manifest: StudyManifest): Promise<void> {
    await this.request('putManifest', STORAGE_PATHS.manifest(this.options.studyId), {
      method: 'PUT',
      headers: { 'content-type': MANIFEST_MEDIA_TYPE },
      body: JSON.stringify(manifest),
    });
  }

  /** The study's manifest as the API accepted it (check it against the root on chain: readStudy's expectedRoot). */
  async getManifest(): Promise<StudyManifest> {
    const res = await this.request('getManifest', STORAGE_PATHS.manifest(this.options.studyId), { method: 'GET' });
    if (res.status === 404) throw new StorageError('STORAGE_NOT_FOUND', 'http manifest');
    return (await res.json()) as StudyManifest;
  }

  /**
   * One request under the deadline (to its response's headers). 2xx and 404 are answers; 401/403/4xx are
   * STORAGE_REFUSED, 5xx and network failures STORAGE_UNAVAILABLE.
   */
  private async request(what: string, path: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), Authorization: this.authorization },
        signal: AbortSignal.timeout(this.deadlineMs),
      });
    } catch (e) {
      throw asUnavailable(e, `http ${what}`);
    }
    if (res.ok || res.status === 404) return res;
    const detail = `http ${what}: ${res.status} ${(await res.text().catch(() => '')).slice(0, 200)}`;
    if (res.status >= 500 || res.status === 429) throw new StorageError('STORAGE_UNAVAILABLE', detail);
    throw new StorageError('STORAGE_REFUSED', detail);
  }
}

function asUnavailable(e: unknown, what: string): StorageError {
  if (e instanceof StorageError) return e;
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  const why = err.name === 'TimeoutError' ? 'no answer in time' : (err.cause?.code ?? err.code ?? err.name ?? 'error');
  return new StorageError('STORAGE_UNAVAILABLE', `${what}: ${why}`);
}

/** tus-js-client's error: the server's refusal (4xx) is STORAGE_REFUSED, anything else (5xx, network) unavailable. */
function uploadError(e: Error): StorageError {
  const status = (e as tus.DetailedError).originalResponse?.getStatus();
  const body = (e as tus.DetailedError).originalResponse?.getBody()?.slice(0, 200) ?? '';
  if (status !== undefined && status >= 400 && status < 500 && status !== 429)
    return new StorageError('STORAGE_REFUSED', `http put: ${status} ${body}`.trim());
  return new StorageError('STORAGE_UNAVAILABLE', `http put: ${status ?? e.message.split('\n')[0].slice(0, 200)}`);
}
