import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import * as tus from 'tus-js-client';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mined } from '#chain';
import { DEV_ROLES, increaseTime } from '#devchain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { generateStudyKey, generateX25519KeyPair } from '#lease';
import {
  FsBlobStore,
  HttpBlobStore,
  MANIFEST_MEDIA_TYPE,
  STORAGE_PATHS,
  StorageError,
  StudyIntegrityError,
  type StudyManifest,
  readStudy,
  storeStudy,
} from '#storage';
import { GqlClient } from './support/client.js';
import { fundRo } from './support/funding.js';
import { POST, RoSide, USD, claimThroughApi, createRo, postingInput, registerKey } from './support/ro-flow.js';
import { Stack, apiUrl as graphqlUrl, devWallet, startStack, waitFor } from './support/stack.js';
import { PausableProxy } from './support/tcp-proxy.js';

/** Small chunks, so that a study of a few hundred KiB has several. */
const CHUNK = 64 * 1024;
const STUDY_BYTES = 6 * CHUNK - 1000;
const BUCKET = 'openread-e2e';
/** The API's base URL (apiUrl names its /graphql). */
const apiUrl = (stack: Stack) => graphqlUrl(stack).replace(/\/graphql$/, '');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function failure(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

/** One counter of the API's /metrics (summed over its labels that match `labels`). */
async function metric(stack: Stack, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${apiUrl(stack)}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (line[name.length] === ' ' || line.slice(name.length).startsWith(`{${labels}`)))
      sum += Number(line.split(' ').pop());
  return sum;
}

interface StoreUnderTest {
  name: string;
  start(): Promise<Record<string, string>>;
  /** alters the stored bytes of a chunk in place (a disk or bucket that changed them) */
  corrupt(stack: Stack, hash: string): Promise<void>;
  stop(): Promise<void>;
}

const fsStore = (): StoreUnderTest => ({
  name: 'filesystem',
  start: async () => ({}),
  async corrupt(stack, hash) {
    const path = new FsBlobStore({ root: stack.config.storage.fsRoot }).pathOf(hash);
    const bytes = await readFile(path);
    bytes[100] ^= 0xff;
    await writeFile(path, bytes);
  },
  stop: async () => undefined,
});

const s3Store = (): StoreUnderTest => {
  let dir: string;
  let s3: S3rver;
  let client: S3Client;
  return {
    name: 'S3 API (s3rver)',
    async start() {
      dir = await mkdtemp(join(tmpdir(), 'openread-s3-e2e-'));
      s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] });
      const { port } = await s3.run();
      const endpoint = `http://127.0.0.1:${port}`;
      client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      return {
        blobStore: 's3',
        s3Endpoint: endpoint,
        s3Bucket: BUCKET,
        s3AccessKeyId: 'S3RVER',
        s3SecretAccessKey: 'S3RVER',
        s3ForcePathStyle: 'true',
      };
    },
    async corrupt(_stack, hash) {
      const key = `chunks/${hash}`;
      const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      bytes[100] ^= 0xff;
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
    },
    async stop() {
      client?.destroy();
      await s3?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

describe.each([fsStore(), s3Store()])('study storage over HTTP: $name', (backend) => {
  let stack: Stack;
  let depositor: GqlClient;
  let billing: GqlClient;
  let radiologist: GqlClient;
  let outsider: GqlClient;
  let studyId: string;
  let otherStudyId: string;
  const studyKey = generateStudyKey();
  const roKeys = generateX25519KeyPair();
  const plaintext = randomBytes(STUDY_BYTES);
  let manifest: StudyManifest;

  const signedIn = async (wallet: { address: string; signMessage(m: string): Promise<string> }) => {
    const c = new GqlClient(stack.api);
    await c.signIn(wallet);
    return c;
  };
  const prepare = async () => (await depositor.ok(POST, { i: postingInput() })).prepareStudyPosting.studyId as string;
  const storeFor = (c: GqlClient, id = studyId, url = apiUrl(stack)) =>
    new HttpBlobStore({ url, token: c.token!, studyId: id, retryDelays: [0, 100, 500, 1000, 2000] });

  beforeAll(async () => {
    const storage = await backend.start();
    stack = await startStack({ storage });
    const admin = await signedIn(devWallet(DEV_ROLES.deployer, stack.provider));
    const depositorWallet = devWallet(DEV_ROLES.roDepositor, stack.provider);
    const billingWallet = devWallet(DEV_ROLES.roBilling[0], stack.provider);
    await createRo(admin, {
      name: 'Storage Imaging',
      publicKey: roKeys.publicKey,
      billing: [billingWallet.address],
      depositors: [depositorWallet.address],
    });
    await fundRo(stack, depositorWallet, 1_000n * USD);
    depositor = await signedIn(depositorWallet);
    billing = await signedIn(billingWallet);
    radiologist = await signedIn(devWallet(DEV_ROLES.radiologists[0], stack.provider));
    outsider = await signedIn(Wallet.createRandom());
    studyId = await prepare();
    otherStudyId = await prepare();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await backend.stop();
  });

  it('uploads a multi-chunk study through HttpBlobStore; a connection killed mid-chunk resumes at the tus offset, no finished chunk is sent again', async () => {
    const proxy = new PausableProxy('127.0.0.1', Number(new URL(apiUrl(stack)).port));
    const port = await proxy.start();
    try {
      const before = {
        bytes: await metric(stack, 'openread_storage_upload_bytes_total'),
        posts: await metric(stack, 'openread_storage_upload_requests_total', 'method="POST"'),
        patches: await metric(stack, 'openread_storage_upload_requests_total', 'method="PATCH"'),
        heads: await metric(stack, 'openread_storage_upload_requests_total', 'method="HEAD"'),
      };
      // in the body of the third chunk's PATCH (each chunk is CHUNK bytes plus a few requests' headers)
      const cut = proxy.cutAfterClientBytes(2.5 * CHUNK);
      manifest = await storeStudy(Readable.from([plaintext]), {
        studyId,
        studyKey,
        store: storeFor(depositor, studyId, `http://127.0.0.1:${port}`),
        chunkBytes: CHUNK,
      });
      await cut;
      const stored = manifest.chunks.reduce((n, c) => n + c.size, 0);
      expect(manifest.chunks).toHaveLength(6);
      // each chunk created once, one PATCH cut and resumed after a HEAD for its offset, and no byte accepted twice
      expect((await metric(stack, 'openread_storage_upload_requests_total', 'method="POST"')) - before.posts).toBe(6);
      expect((await metric(stack, 'openread_storage_upload_requests_total', 'method="HEAD"')) - before.heads).toBeGreaterThanOrEqual(1);
      expect((await metric(stack, 'openread_storage_upload_requests_total', 'method="PATCH"')) - before.patches).toBeGreaterThanOrEqual(7);
      expect((await metric(stack, 'openread_storage_upload_bytes_total')) - before.bytes).toBe(stored);
    } finally {
      await proxy.stop();
    }

    await storeFor(depositor).putManifest(manifest);
    // the RO's billing staff read it back: manifest, then every chunk verified and decrypted
    const reader = storeFor(billing);
    const got = await reader.getManifest();
    expect(got).toEqual(manifest);
    expect((await collect(readStudy(got, { studyKey, store: reader, expectedRoot: manifest.merkleRoot }))).equals(plaintext)).toBe(true);
  });

  it('does not send a chunk the API already holds (has first), and a manifest again is a no-op', async () => {
    const reader = storeFor(billing);
    const before = {
      bytes: await metric(stack, 'openread_storage_upload_bytes_total'),
      posts: await metric(stack, 'openread_storage_upload_requests_total', 'method="POST"'),
    };
    const again = storeFor(depositor);
    for (const c of manifest.chunks) await again.put(c.hash, await collect(await reader.get(c.hash)));
    await again.putManifest(manifest);
    expect((await metric(stack, 'openread_storage_upload_requests_total', 'method="POST"')) - before.posts).toBe(0);
    expect((await metric(stack, 'openread_storage_upload_bytes_total')) - before.bytes).toBe(0);
  });

  it('refuses bytes that do not hash to their address, uploads without a session or from another account, and oversized chunks', async () => {
    const endpoint = apiUrl(stack) + STORAGE_PATHS.uploads;
    const bytes = randomBytes(2000);
    const wrong = sha256(randomBytes(2000));
    const refusal = await new Promise<tus.DetailedError>((resolve, reject) => {
      new tus.Upload(bytes, {
        endpoint,
        metadata: { studyId: otherStudyId, hash: wrong },
        headers: { Authorization: `Bearer ${depositor.token}` },
        retryDelays: null,
        onSuccess: () => reject(new Error('a chunk with the wrong address was accepted')),
        onError: (e) => resolve(e as tus.DetailedError),
      }).start();
    });
    expect(refusal.originalResponse?.getStatus()).toBe(422);
    expect(await storeFor(depositor, otherStudyId).has(wrong)).toBe(false);

    const create = (headers: Record<string, string>, length = 2000) =>
      fetch(endpoint, {
        method: 'POST',
        headers: {
          'tus-resumable': '1.0.0',
          'upload-length': String(length),
          'upload-metadata': `studyId ${Buffer.from(otherStudyId).toString('base64')},hash ${Buffer.from(sha256(bytes)).toString('base64')}`,
          ...headers,
        },
      });
    // a CORS preflight needs no session; it stores nothing
    const preflight = await fetch(endpoint, {
      method: 'OPTIONS',
      headers: { origin: 'https://console.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('tus-version')).toContain('1.0.0');
    const unauthenticated = await create({});
    expect(unauthenticated.status).toBe(401);
    expect(((await unauthenticated.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
    expect((await create({ authorization: `Bearer ${outsider.token}` })).status).toBe(403);
    expect((await create({ authorization: `Bearer ${billing.token}` })).status).toBe(403);
    expect((await create({ authorization: `Bearer ${depositor.token}` }, stack.config.storage.maxChunkBytes + 1)).status).toBe(400);
    const err = await failure(storeFor(outsider, otherStudyId).put(sha256(bytes), bytes));
    expect((err as StorageError).code).toBe('STORAGE_REFUSED');
  });

  it('takes a manifest only when it verifies and every chunk it lists is stored', async () => {
    const local = await mkdtemp(join(tmpdir(), 'openread-local-'));
    try {
      const m = await storeStudy(Readable.from([randomBytes(3 * CHUNK)]), {
        studyId: otherStudyId,
        studyKey: generateStudyKey(),
        store: new FsBlobStore({ root: local }),
        chunkBytes: CHUNK,
      });
      const put = (body: unknown, token = depositor.token) =>
        fetch(apiUrl(stack) + STORAGE_PATHS.manifest(otherStudyId), {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': MANIFEST_MEDIA_TYPE },
          body: JSON.stringify(body),
        });
      const missing = await put(m);
      expect(missing.status).toBe(409);
      expect(((await missing.json()) as { details: { missing: number[] } }).details.missing).toEqual(m.chunks.map((_, i) => i));
      const forged = await put({ ...m, plaintextLength: m.plaintextLength + 1 });
      expect(forged.status).toBe(400);
      expect(((await forged.json()) as { details: { reason: string } }).details.reason).toBe('MANIFEST_INVALID');
      expect((await put(manifest)).status).toBe(400); // another study's manifest
      expect((await put(m, outsider.token)).status).toBe(403);
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });

  it('serves chunks to readers of the study only, with HTTP Range', async () => {
    const [first] = manifest.chunks;
    const url = apiUrl(stack) + STORAGE_PATHS.chunk(studyId, first.hash);
    const whole = Buffer.from(await (await fetch(url, { headers: { authorization: `Bearer ${billing.token}` } })).arrayBuffer());
    expect(sha256(whole)).toBe(first.hash);
    const ranged = await fetch(url, { headers: { authorization: `Bearer ${billing.token}`, range: 'bytes=1000-1999' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 1000-1999/${first.size}`);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(whole.subarray(1000, 2000))).toBe(true);
    const past = await fetch(url, { headers: { authorization: `Bearer ${billing.token}`, range: `bytes=${first.size}-` } });
    expect(past.status).toBe(416);

    expect((await fetch(url)).status).toBe(401);
    // a radiologist without the claim, and any other signed-in account
    for (const c of [radiologist, outsider]) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${c.token}` } });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe('FORBIDDEN');
      const err = await failure(storeFor(c).getManifest());
      expect((err as StorageError).code).toBe('STORAGE_REFUSED');
    }
    // a chunk the study's manifest does not list is not served, even to its RO
    const other = await fetch(apiUrl(stack) + STORAGE_PATHS.chunk(studyId, sha256(Buffer.from('x'))), {
      headers: { authorization: `Bearer ${billing.token}` },
    });
    expect(other.status).toBe(404);
  });

  it('a download cut in the middle of a chunk resumes with a Range from the byte reached', async () => {
    const proxy = new PausableProxy('127.0.0.1', Number(new URL(apiUrl(stack)).port));
    const port = await proxy.start();
    try {
      const reader = storeFor(billing, studyId, `http://127.0.0.1:${port}`);
      const m = await reader.getManifest();
      // in the body of the second chunk (the first is CHUNK bytes plus its response's headers)
      const cut = proxy.cutAfterServerBytes(1.5 * CHUNK);
      const got = await collect(readStudy(m, { studyKey, store: reader, expectedRoot: manifest.merkleRoot }));
      await cut;
      expect(got.equals(plaintext)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('a chunk altered in the blob store is named by readStudy on the reading side', async () => {
    await backend.corrupt(stack, manifest.chunks[2].hash);
    const reader = storeFor(billing);
    const err = await failure(
      collect(readStudy(await reader.getManifest(), { studyKey, store: reader, expectedRoot: manifest.merkleRoot })),
    );
    expect(err).toBeInstanceOf(StudyIntegrityError);
    expect((err as StudyIntegrityError).reason).toBe('CHUNK_CORRUPTED');
    expect((err as StudyIntegrityError).chunkIndex).toBe(2);
  });

  // who may read does not depend on the store: checked once
  it.runIf(backend.name === 'filesystem')(
    'the radiologist holding the claim reads the study once the RO issued the lease, and not after it ends',
    async () => {
      const depositorWallet = devWallet(DEV_ROLES.roDepositor, stack.provider);
      const side = new RoSide(stack, depositorWallet, roKeys);
      // posted on chain through the API, with the base64 payload of today's posting (which keeps working)
      const posted = await side.post(depositor, randomBytes(100));
      const key = generateStudyKey();
      const bytes = randomBytes(2 * CHUNK);
      const up = storeFor(depositor, posted);
      const m = await storeStudy(Readable.from([bytes]), { studyId: posted, studyKey: key, store: up, chunkBytes: CHUNK });
      await up.putManifest(m);

      const wallet = devWallet(DEV_ROLES.radiologists[0], stack.provider);
      const expiry = (await stack.provider.getBlock('latest'))!.timestamp + 365 * 86400;
      await mined(stack.owner.registry.attest(wallet.address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
      await waitFor('the credential indexed', async () => !(await radiologist.send(`{ worklist { items { id } } }`)).errors);
      await registerKey(stack, radiologist, wallet, generateX25519KeyPair().publicKey);
      await claimThroughApi(stack, radiologist, DEV_ROLES.radiologists[0], posted);
      const reader = storeFor(radiologist, posted);
      const early = await fetch(apiUrl(stack) + STORAGE_PATHS.manifest(posted), {
        headers: { authorization: `Bearer ${radiologist.token}` },
      });
      expect(early.status).toBe(404); // claimed, but the RO has not issued the lease yet

      const lease = await side.issuePendingLease(depositor, posted, { trustApi: true });
      const got = await reader.getManifest();
      expect((await collect(readStudy(got, { studyKey: key, store: reader, expectedRoot: m.merkleRoot }))).equals(bytes)).toBe(true);
      // the claimant's read is in the RO's access log
      const { studyAccessLog } = await billing.ok(`query($id: ID!) { studyAccessLog(studyId: $id) { account action outcome } }`, {
        id: posted,
      });
      expect(studyAccessLog).toContainEqual({ account: wallet.address.toLowerCase(), action: 'FETCH_PAYLOAD', outcome: 'GRANTED' });

      const now = (await stack.provider.getBlock('latest'))!.timestamp;
      await increaseTime(stack.provider, Number(lease.terms.expiresAt) - now + 1);
      const ended = await waitFor('the lease to end for the API', async () => {
        const res = await fetch(apiUrl(stack) + STORAGE_PATHS.chunk(posted, m.chunks[0].hash), {
          headers: { authorization: `Bearer ${radiologist.token}` },
        });
        return res.status === 403 && ((await res.json()) as { code: string });
      });
      expect(ended.code).toBe('LEASE_EXPIRED');
    },
  );
});
