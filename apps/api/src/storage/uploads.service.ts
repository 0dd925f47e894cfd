import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { FileStore } from '@tus/file-store';
import { Server, type Upload } from '@tus/server';
import { APP_CONFIG, type AppConfig } from '#config';
import { assertContentAddress, type BlobStore, StorageError, STORAGE_PATHS } from '#storage';
import { OpenReadError } from '../common/errors.js';
import { parseStudyId } from '../common/validation.js';
import { MetricsRegistry } from '../metrics/index.js';
import { BLOB_STORE } from './blob-store.provider.js';
import { StorageAccessService } from './storage-access.service.js';

/** Partly received uploads older than this are deleted by the periodic clean-up. */
const STAGED_UPLOAD_TTL_MS = 24 * 3600 * 1000;
const CLEAN_UP_EVERY_MS = 3600 * 1000;

/**
 * Resumable chunk uploads over tus (@tus/server with a file store in UPLOAD_DIR). One tus upload is one encrypted,
 * content-addressed chunk of one study: its metadata names the study (`studyId`) and the chunk's address (`hash`).
 * Every request is authenticated and checked before tus sees it (the controller): only a depositor of the RO that
 * prepared the study may create, resume, inspect or delete its uploads, and a declared length above
 * UPLOAD_MAX_CHUNK_BYTES is refused. When the last byte arrives, the staged bytes are hashed: bytes that are not the
 * address they claim are refused (422) and dropped, others go into the blob store, and the staged copy is removed.
 */
@Injectable()
export class UploadsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Uploads');
  private cleanUp?: NodeJS.Timeout;
  readonly datastore: FileStore;
  private readonly tus: Server;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly access: StorageAccessService,
    private readonly metrics: MetricsRegistry,
  ) {
    this.datastore = new CountingFileStore(
      { directory: config.storage.uploadDir, expirationPeriodInMilliseconds: STAGED_UPLOAD_TTL_MS },
      (bytes) => this.metrics.uploadBytes.inc(bytes),
    );
    this.tus = new Server({
      path: STORAGE_PATHS.uploads,
      datastore: this.datastore,
      maxSize: config.storage.maxChunkBytes,
      // the client resolves the upload URL against the endpoint it used (a proxy's address, not this host's)
      relativeLocation: true,
      namingFunction: () => randomBytes(16).toString('hex'),
      onUploadFinish: async (_req, upload) => {
        await this.finish(upload);
        return {};
      },
    });
  }

  /**
   * One tus request (`id`: the upload it addresses, null for a creation) from `account`, answered on `res`. Throws
   * OpenReadError before tus sees the request when it is refused.
   */
  async handle(account: string, id: string | null, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? '';
    this.metrics.uploadRequests.inc({ method });
    // tus' GET would serve a staged upload back: chunks are read from the blob store, by their readers, only
    if (method === 'GET') throw new OpenReadError('BAD_INPUT', 'uploads are not read back: GET the stored chunk instead');
    if (id === null) {
      if (method === 'POST') await this.checkCreation(account, req);
    } else {
      if (!/^[0-9a-f]{32}$/.test(id)) throw new OpenReadError('NOT_FOUND', 'no such upload');
      const upload = await this.staged(id);
      await this.access.writer(account, parseStudyId(upload.metadata?.studyId ?? ''));
    }
    await this.tus.handle(req, res);
  }

  /** A CORS preflight (OPTIONS), answered by tus without a session: it reveals only the protocol's options. */
  async preflight(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await this.tus.handle(req, res);
  }

  private async staged(id: string): Promise<Upload> {
    try {
      return await this.datastore.getUpload(id);
    } catch {
      throw new OpenReadError('NOT_FOUND', 'no such upload (finished, expired or never created)');
    }
  }

  /** A creation names its study (its RO's own posting) and the chunk's address, and declares its length up front. */
  private async checkCreation(account: string, req: IncomingMessage): Promise<void> {
    const metadata = parseMetadata(String(req.headers['upload-metadata'] ?? ''));
    const studyId = parseStudyId(metadata.studyId ?? '');
    try {
      assertContentAddress(metadata.hash ?? '');
    } catch {
      throw new OpenReadError('BAD_INPUT', 'the upload metadata must name the chunk: hash = its SHA-256 in 64 lowercase hex digits');
    }
    const length = Number(req.headers['upload-length']);
    if (!Number.isInteger(length) || length <= 0)
      throw new OpenReadError('BAD_INPUT', 'declare the chunk length up front (Upload-Length); deferred lengths are not accepted');
    if (length > this.config.storage.maxChunkBytes)
      throw new OpenReadError('BAD_INPUT', `a chunk is at most ${this.config.storage.maxChunkBytes} bytes (UPLOAD_MAX_CHUNK_BYTES)`);
    await this.access.writer(account, studyId);
  }

  /** The last byte arrived: verify the address, store, and drop the staged copy either way. */
  private async finish(upload: Upload): Promise<void> {
    const hash = upload.metadata?.hash ?? '';
    try {
      const bytes = await readFile(join(this.config.storage.uploadDir, upload.id));
      if (bytes.length !== upload.size || createHash('sha256').update(bytes).digest('hex') !== hash) {
        this.metrics.chunksStored.inc({ outcome: 'refused' });
        throw { status_code: 422, body: 'the bytes do not hash to the address named in the upload metadata (hash)\n' };
      }
      await this.store.put(hash, bytes);
      this.metrics.chunksStored.inc({ outcome: 'stored' });
    } catch (e) {
      if (e instanceof StorageError) {
        this.logger.warn(`storing an uploaded chunk failed: ${e.code} ${e.detail ?? ''}`);
        throw { status_code: 503, body: `${e.message}\n` };
      }
      throw e;
    } finally {
      await this.datastore.remove(upload.id).catch(() => undefined);
    }
  }

  onModuleInit(): void {
    this.cleanUp = setInterval(() => void this.cleanUpExpired(), CLEAN_UP_EVERY_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.cleanUp);
  }

  /** Deletes staged uploads nobody finished within their time to live. */
  async cleanUpExpired(): Promise<number> {
    try {
      return await this.tus.cleanUpExpiredUploads();
    } catch (e) {
      this.logger.warn(`cleaning up expired uploads failed: ${(e as Error).message}`);
      return 0;
    }
  }
}

/** tus' Upload-Metadata: `key base64value,key2 base64value2`. */
function parseMetadata(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of header.split(',')) {
    const [key, value] = pair.trim().split(' ');
    if (key) out[key] = value ? Buffer.from(value, 'base64').toString('utf8') : '';
  }
  return out;
}

/**
 * The file store, counting the bytes each PATCH wrote: what a finished write reports, or for a write cut short (the
 * client's connection dropped) what reached the file, which is where the client resumes.
 */
class CountingFileStore extends FileStore {
  constructor(
    options: ConstructorParameters<typeof FileStore>[0],
    private readonly written: (bytes: number) => void,
  ) {
    super(options);
  }

  override async write(readable: IncomingMessage | Readable, id: string, offset: number): Promise<number> {
    try {
      const end = await super.write(readable, id, offset);
      this.written(end - offset);
      return end;
    } catch (e) {
      const size = await stat(join(this.directory, id)).then(
        (s) => s.size,
        () => offset,
      );
      if (size > offset) this.written(size - offset);
      throw e;
    }
  }
}
