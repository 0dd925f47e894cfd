import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { generateStudyKey } from '#lease';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeStudy } from './chunk.js';
import { StorageError, StudyIntegrityError } from './errors.js';
import { readStudy } from './reader.js';
import { S3BlobStore } from './s3-blob-store.js';

const address = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BUCKET = 'openread-test';

const clientFor = (port: number) =>
  new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    maxAttempts: 1,
  });

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function codeOf(attempt: Promise<unknown>): Promise<string> {
  const err = await attempt.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return (err as StorageError).code;
}

// s3rver: an S3 API server from npm, started on a free port with its own directory, stopped after
describe('S3BlobStore against an S3 API (s3rver)', () => {
  let dir: string;
  let s3: S3rver;
  let client: S3Client;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openread-s3-'));
    s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] });
    const { port } = await s3.run();
    client = clientFor(port);
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores under the content address, streams back, a second put is a no-op, and a missing blob is STORAGE_NOT_FOUND', async () => {
    const store = new S3BlobStore({ client, bucket: BUCKET });
    const blob = randomBytes(200_000);
    const hash = address(blob);
    expect(await store.has(hash)).toBe(false);
    await store.put(hash, blob);
    await store.put(hash, blob);
    expect(await store.has(hash)).toBe(true);
    expect((await collect(await store.get(hash))).equals(blob)).toBe(true);
    await expect(store.put(address(Buffer.from('x')), Buffer.from('y'))).rejects.toThrow(RangeError);
    expect(await codeOf(store.get(address(Buffer.from('never stored'))))).toBe('STORAGE_NOT_FOUND');
  });

  it('carries a whole study, and the reader names a chunk removed from the bucket', async () => {
    const store = new S3BlobStore({ client, bucket: BUCKET, prefix: 'study-a/' });
    const key = generateStudyKey();
    const bytes = randomBytes(30_000);
    const m = await storeStudy(Readable.from([bytes]), { studyId: '0x' + '22'.repeat(32), studyKey: key, store, chunkBytes: 4096 });
    expect((await collect(readStudy(m, { studyKey: key, store, expectedRoot: m.merkleRoot }))).equals(bytes)).toBe(true);

    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: store.keyOf(m.chunks[4].hash) }));
    const err = await collect(readStudy(m, { studyKey: key, store })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StudyIntegrityError);
    expect([(err as StudyIntegrityError).reason, (err as StudyIntegrityError).chunkIndex]).toEqual(['CHUNK_MISSING', 4]);
  });

  it('answers STORAGE_UNAVAILABLE when nothing listens, and when the server accepts but never answers', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const gone = new S3BlobStore({ client: clientFor(deadPort), bucket: BUCKET });
    expect(await codeOf(gone.get(address(Buffer.from('a'))))).toBe('STORAGE_UNAVAILABLE');

    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const hung = new S3BlobStore({ client: clientFor((silent.address() as { port: number }).port), bucket: BUCKET, deadlineMs: 300 });
      const err = await hung.has(address(Buffer.from('a'))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('STORAGE_UNAVAILABLE');
      expect((err as StorageError).detail).toMatch(/within 300 ms/);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
