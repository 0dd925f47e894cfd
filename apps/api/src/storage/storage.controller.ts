import { All, Controller, Get, Head, Inject, Logger, Param, Put, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Transform, pipeline } from 'node:stream';
import { APP_CONFIG, type AppConfig } from '#config';
import { StudyManifestRepository } from '#db';
import {
  type BlobStore,
  MANIFEST_MEDIA_TYPE,
  StorageError,
  type StudyManifest,
  StudyIntegrityError,
  assertContentAddress,
  verifyManifest,
} from '#storage';
import { AuthService } from '../auth/index.js';
import { OpenReadError, type ErrorCode } from '../common/errors.js';
import { dependencyUnavailable } from '../common/unavailable.interceptor.js';
import { parseStudyId } from '../common/validation.js';
import { BLOB_STORE } from './blob-store.provider.js';
import { StorageAccessService } from './storage-access.service.js';
import { UploadsService } from './uploads.service.js';

const STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_ELIGIBLE: 403,
  LEASE_EXPIRED: 403,
  LEASE_NOT_GRANTED: 403,
  NOT_FOUND: 404,
  BAD_INPUT: 400,
  ALREADY_CLAIMED: 409,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  CHAIN_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  BUS_UNAVAILABLE: 503,
  STORAGE_UNAVAILABLE: 503,
  INTERNAL: 500,
  CUSTODY_REVOKED: 403,
};

/** Chunks checked for presence at once when a manifest comes in. */
const PRESENCE_CHECKS_IN_FLIGHT = 8;

/**
 * The byte endpoints of study storage (not GraphQL: bytes, resumable, ranged). Every request carries the session
 * bearer token of `login`; refusals answer `{ code, message }` with the code's HTTP status.
 * - `/storage/uploads[/<id>]`: tus 1.0 resumable uploads of one encrypted chunk each (UploadsService).
 * - `HEAD|GET /storage/studies/<studyId>/chunks/<sha256>`: a stored chunk, for readers of the study (a chunk its
 *   manifest lists) and, HEAD only, for its RO's depositors while they upload. GET honours one `Range`.
 * - `PUT|GET /storage/studies/<studyId>/manifest`: the study's manifest, accepted once it verifies and every chunk
 *   it lists is stored; read by the study's readers.
 */
@Controller('storage')
export class StorageController {
  private readonly logger = new Logger('Storage');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly auth: AuthService,
    private readonly access: StorageAccessService,
    private readonly uploads: UploadsService,
    private readonly manifests: StudyManifestRepository,
  ) {}

  @All('uploads')
  createUpload(@Req() req: Request, @Res() res: Response) {
    // a browser's CORS preflight carries no credentials: tus answers it (it names the protocol, nothing stored)
    if (req.method === 'OPTIONS') return this.answer(res, () => this.uploads.preflight(req, res));
    return this.answer(res, async () => this.uploads.handle(await this.account(req), null, req, res));
  }

  @All('uploads/:id')
  upload(@Req() req: Request, @Res() res: Response, @Param('id') id: string) {
    if (req.method === 'OPTIONS') return this.answer(res, () => this.uploads.preflight(req, res));
    return this.answer(res, async () => this.uploads.handle(await this.account(req), id, req, res));
  }

  // HEAD before GET: Express would answer a HEAD with the GET route otherwise
  @Head('studies/:studyId/chunks/:hash')
  hasChunk(@Req() req: Request, @Res() res: Response, @Param('studyId') rawStudyId: string, @Param('hash') hash: string) {
    return this.answer(res, async () => {
      const account = await this.account(req);
      const studyId = parseStudyId(rawStudyId);
      const address = parseHash(hash);
      // the uploader asks before sending a chunk that is not in a manifest yet; readers only see listed chunks
      const writer = await this.access.writer(account, studyId).then(
        () => true,
        () => false,
      );
      if (!writer) {
        await this.access.reader(account, studyId);
        if ((await this.manifests.chunkSize(this.config.chainId, studyId, address)) === null) return void res.status(404).end();
      }
      res.status((await this.storage(() => this.store.has(address))) ? 200 : 404).end();
    });
  }

  @Get('studies/:studyId/chunks/:hash')
  chunk(@Req() req: Request, @Res() res: Response, @Param('studyId') rawStudyId: string, @Param('hash') hash: string) {
    return this.answer(res, async () => {
      const account = await this.account(req);
      const studyId = parseStudyId(rawStudyId);
      const address = parseHash(hash);
      await this.access.reader(account, studyId);
      const size = await this.manifests.chunkSize(this.config.chainId, studyId, address);
      if (size === null) throw new OpenReadError('NOT_FOUND', "this chunk is not in the study's manifest");
      const range = parseRange(req.headers.range, size);
      if (range === 'UNSATISFIABLE') {
        res.status(416).set('content-range', `bytes */${size}`).end();
        return;
      }
      const body = await this.storage(() => this.store.get(address));
      const [start, end] = range ?? [0, size - 1];
      res.status(range ? 206 : 200).set({
        'content-type': 'application/octet-stream',
        'content-length': String(end - start + 1),
        'accept-ranges': 'bytes',
        // content-addressed: the bytes under this name never change
        'cache-control': 'private, max-age=31536000, immutable',
        ...(range && { 'content-range': `bytes ${start}-${end}/${size}` }),
      });
      // the whole download has a deadline: a reader that stalls is cut, and resumes with a Range
      const deadline = setTimeout(() => res.destroy(), this.config.storage.downloadDeadlineMs);
      pipeline(body, slice(start, end), res, (e) => {
        clearTimeout(deadline);
        if (e && !res.destroyed) res.destroy();
      });
    });
  }

  @Put('studies/:studyId/manifest')
  putManifest(@Req() req: Request, @Res() res: Response, @Param('studyId') rawStudyId: string) {
    return this.answer(res, async () => {
      const account = await this.account(req);
      const studyId = parseStudyId(rawStudyId);
      await this.access.writer(account, studyId);
      const raw = await readBody(req, this.config.storage.maxManifestBytes);
      let manifest: StudyManifest;
      try {
        manifest = JSON.parse(raw.toString('utf8')) as StudyManifest;
        verifyManifest(manifest);
      } catch (e) {
        const reason = e instanceof StudyIntegrityError ? e.reason : 'NOT_JSON';
        throw new OpenReadError('BAD_INPUT', 'the manifest does not verify (shape, sizes, lengths or its Merkle root)', { reason });
      }
      if (manifest.studyId !== studyId) throw new OpenReadError('BAD_INPUT', 'the manifest is of another study');
      const missing = await this.missingChunks(manifest);
      if (missing.length)
        throw new OpenReadError('CONFLICT', `${missing.length} chunk(s) of the manifest are not stored yet: upload them first`, {
          missing: missing.slice(0, 20),
        });
      const stored = await this.manifests.store(this.config.chainId, studyId, manifest, account);
      if (stored === 'OTHER') throw new OpenReadError('CONFLICT', 'this study has another manifest already (manifests are write-once)');
      res.status(stored === 'STORED' ? 201 : 200).json({ studyId, merkleRoot: manifest.merkleRoot });
    });
  }

  @Get('studies/:studyId/manifest')
  getManifest(@Req() req: Request, @Res() res: Response, @Param('studyId') rawStudyId: string) {
    return this.answer(res, async () => {
      const account = await this.account(req);
      const studyId = parseStudyId(rawStudyId);
      const kind = await this.access.reader(account, studyId);
      const stored = await this.manifests.manifest(this.config.chainId, studyId);
      if (!stored) throw new OpenReadError('NOT_FOUND', 'the RO has not stored this study yet');
      await this.access.logRead(account, studyId, kind);
      res.status(200).type(MANIFEST_MEDIA_TYPE).send(JSON.stringify(stored.manifest));
    });
  }

  private async account(req: Request): Promise<string> {
    const user = await this.auth.authenticate(req.headers.authorization);
    if (!user) throw new OpenReadError('UNAUTHENTICATED', 'sign in first: Authorization: Bearer <token from login>');
    return user.address;
  }

  /** Indexes of the manifest's chunks the blob store does not hold. */
  private async missingChunks(m: StudyManifest): Promise<number[]> {
    const missing: number[] = [];
    for (let i = 0; i < m.chunks.length; i += PRESENCE_CHECKS_IN_FLIGHT) {
      const batch = m.chunks.slice(i, i + PRESENCE_CHECKS_IN_FLIGHT);
      const present = await Promise.all(batch.map((c) => this.storage(() => this.store.has(c.hash))));
      present.forEach((p, j) => p || missing.push(i + j));
    }
    return missing;
  }

  /** A blob-store call: unavailable (its deadline passed) is STORAGE_UNAVAILABLE, not there is NOT_FOUND. */
  private async storage<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof StorageError)) throw e;
      if (e.code === 'STORAGE_NOT_FOUND') throw new OpenReadError('NOT_FOUND', 'the chunk is not in storage');
      this.logger.warn(`blob store: ${e.code} ${e.detail ?? ''}`);
      throw new OpenReadError('STORAGE_UNAVAILABLE', 'the study storage cannot be reached right now; try again shortly');
    }
  }

  /** Runs a handler; a refusal answers `{ code, message }` with its status (a retryable one with Retry-After). */
  private async answer(res: Response, handler: () => Promise<void>): Promise<void> {
    try {
      await handler();
    } catch (error) {
      const e = error instanceof OpenReadError ? error : (dependencyUnavailable(error) ?? null);
      if (!e) this.logger.error(`storage request failed: ${(error as Error)?.stack ?? String(error)}`);
      if (res.headersSent) return void res.destroy();
      const code: ErrorCode = e?.code ?? 'INTERNAL';
      const status = STATUS[code];
      if (status === 503) res.set('retry-after', '2');
      res
        .status(status)
        .json({ code, message: e?.message ?? 'internal error', ...(e && Object.keys(e.details).length && { details: e.details }) });
    }
  }
}

function parseHash(hash: string): string {
  try {
    assertContentAddress(hash);
  } catch {
    throw new OpenReadError('BAD_INPUT', 'a chunk address is its SHA-256 in 64 lowercase hex digits');
  }
  return hash;
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range of a `size`-byte body: null = the whole body. */
export function parseRange(header: string | undefined, size: number): [number, number] | null | 'UNSATISFIABLE' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // not one range we serve: the whole body, as RFC 9110 allows
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'UNSATISFIABLE';
  return [start, end];
}

/** Passes bytes `start`..`end` (inclusive) of a stream (a blob store streams a chunk from its start). */
function slice(start: number, end: number): Transform {
  let at = 0;
  return new Transform({
    transform(part: Buffer, _enc, done) {
      const from = Math.max(0, start - at);
      const to = Math.min(part.length, end + 1 - at);
      at += part.length;
      done(null, to > from ? part.subarray(from, to) : undefined);
    },
  });
}

/** The request body, refused past `limit` bytes. */
async function readBody(req: Request, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > limit) throw new OpenReadError('BAD_INPUT', `the manifest is larger than ${limit} bytes (UPLOAD_MAX_MANIFEST_BYTES)`);
    parts.push(part);
  }
  return Buffer.concat(parts);
}
