import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from './config.js';

const env = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x',
  RPC_URL: 'http://127.0.0.1:8545',
  CHAIN_ID: '31337',
  TOKEN_ADDRESS: '0x' + '1'.repeat(40),
  PARAMETERS_ADDRESS: '0x' + '2'.repeat(40),
  REGISTRY_ADDRESS: '0x' + '3'.repeat(40),
  MARKET_ADDRESS: '0x' + 'a'.repeat(40),
  DEPLOY_BLOCK: '1',
};

const problems = (over: Record<string, string>): string => {
  try {
    configFromEnv({ ...env, ...over });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected the configuration to be refused');
};

describe('storage settings', () => {
  it('default to the filesystem store under the data directory', () => {
    const { storage } = configFromEnv(env);
    expect(storage).toMatchObject({
      blobStore: 'fs',
      fsRoot: '.openread/blobs',
      uploadDir: '.openread/uploads',
      s3ForcePathStyle: 'false',
    });
    expect(storage.maxChunkBytes).toBe(4 * 1024 * 1024);
  });

  it('read an S3 store from its variables', () => {
    const { storage } = configFromEnv({
      ...env,
      BLOB_STORE: 's3',
      BLOB_S3_ENDPOINT: 'http://minio:9000',
      BLOB_S3_BUCKET: 'studies',
      BLOB_S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      BLOB_S3_ACCESS_SECRET: 'not-a-real-secret',
      BLOB_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(storage).toMatchObject({ blobStore: 's3', s3Endpoint: 'http://minio:9000', s3Bucket: 'studies', s3ForcePathStyle: 'true' });
  });

  it('are refused at boot with the variable to fix named, and a secret never echoed', () => {
    expect(problems({ BLOB_STORE: 'gcs' })).toContain('BLOB_STORE="gcs": must be fs or s3');
    expect(problems({ BLOB_STORE: 's3' })).toContain('BLOB_STORE="s3": needs BLOB_S3_BUCKET');
    expect(problems({ BLOB_STORE: 's3', BLOB_S3_BUCKET: 'Bad_Bucket' })).toContain(
      'BLOB_S3_BUCKET="Bad_Bucket": must be an S3 bucket name',
    );
    expect(problems({ BLOB_S3_ACCESS_KEY_ID: 'AKIDEXAMPLE' })).toContain(
      'BLOB_S3_ACCESS_KEY_ID="AKIDEXAMPLE": is set but BLOB_S3_ACCESS_SECRET is not',
    );
    const secretOnly = problems({ BLOB_S3_ACCESS_SECRET: 'hunter2-secret' });
    expect(secretOnly).toContain('BLOB_S3_ACCESS_SECRET=(the value given, not shown: a secret): is set but BLOB_S3_ACCESS_KEY_ID is not');
    expect(secretOnly).not.toContain('hunter2');
    expect(problems({ UPLOAD_MAX_CHUNK_BYTES: '12' })).toContain('UPLOAD_MAX_CHUNK_BYTES="12"');
  });
});
