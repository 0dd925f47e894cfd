import { S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

/** The blob store's settings (AppConfig['storage'] of #config, which this library does not import). */
export interface BlobStoreSettings {
  blobStore: 'fs' | 's3';
  fsRoot: string;
  s3Endpoint?: string;
  s3Region: string;
  s3Bucket?: string;
  s3Prefix: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3ForcePathStyle: 'true' | 'false';
  deadlineMs: number;
}

/** The blob store the configuration names (BLOB_STORE): every app that stores or reads chunks builds it here. */
export function createBlobStore(s: BlobStoreSettings): BlobStore {
  if (s.blobStore === 'fs') return new FsBlobStore({ root: s.fsRoot, deadlineMs: s.deadlineMs });
  if (!s.s3Bucket) throw new RangeError('BLOB_STORE=s3 needs BLOB_S3_BUCKET');
  const client = new S3Client({
    endpoint: s.s3Endpoint,
    region: s.s3Region,
    forcePathStyle: s.s3ForcePathStyle === 'true',
    ...(s.s3AccessKeyId && s.s3SecretAccessKey && { credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey } }),
  });
  return new S3BlobStore({ client, bucket: s.s3Bucket, prefix: s.s3Prefix, deadlineMs: s.deadlineMs });
}
