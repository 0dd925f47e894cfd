import { randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mined } from '#chain';
import { DEV_ROLES } from '#devchain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { encryptPayload, generateStudyKey, generateX25519KeyPair, reportContext, roKeyContext, sealTo } from '#lease';
import { GqlClient, signPrepared } from './support/client.js';
import { FETCH, POST, RELAY, RoSide, USD, claimThroughApi, postingInput, registerKey } from './support/ro-flow.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

/** Who is who in this file (dev account numbers, from DEV_ROLES). */
const RO = DEV_ROLES.roDepositor;
const READER = DEV_ROLES.radiologists[0];
const ADMIN = DEV_ROLES.deployer;

const UPLOAD = `mutation($id: ID!, $c: String!, $k: String!) { uploadStudyPayload(studyId: $id, ciphertext: $c, keyForRo: $k) }`;
const REPORT = `mutation($id: ID!, $r: String!) { submitEncryptedReport(studyId: $id, sealedReport: $r) { reportHash } }`;
const QUOTA = { roMaxUnpostedStudies: 3, roPayloadQuotaBytes: 40_000, newAccountSignInsPerHour: 3 };

/**
 * Issue 13, items 6 and 13, over HTTP: what one signed-in party can make the platform store is bounded (access-log
 * rows, sign-ins of fresh wallets, pending reports, prepared postings, payload bytes), each refusal a typed error.
 */
describe('bounds on what one party can make the platform store', () => {
  let stack: Stack;
  let db: pg.Client;
  const roKeys = generateX25519KeyPair();
  const client = async (i: number) => {
    const c = new GqlClient(stack.api);
    await c.signIn(devWallet(i, stack.provider));
    return c;
  };
  const logRows = async () => Number((await db.query(`SELECT count(*)::int AS n FROM study_access_log`)).rows[0].n);

  beforeAll(async () => {
    stack = await startStack({ api: QUOTA });
    const { owner, provider } = stack;
    const ro = devWallet(RO, provider);
    const market = owner.market.connect(ro) as typeof owner.market;
    await mined(owner.token.mint(ro.address, 1_000n * USD));
    await mined((owner.token.connect(ro) as typeof owner.token).approve(await market.getAddress(), 1_000n * USD));
    await mined(market.deposit(1_000n * USD));
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await mined(
      owner.registry.attest(devWallet(READER, provider).address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry),
    );
    const admin = await client(ADMIN);
    await admin.ok(
      `mutation($n: String!, $k: String!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $d, depositors: $d) { id } }`,
      { n: 'Mercy Imaging', k: roKeys.publicKey, d: [ro.address] },
    );
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    // the radiologist signs in with their role (sign-ins of role-less wallets are capped below)
    const reader = devWallet(READER, provider).address.toLowerCase();
    await waitFor(
      'the credential indexed',
      async () => (await db.query(`SELECT 1 FROM credentials WHERE radiologist = $1`, [reader])).rowCount,
    );
  });
  afterAll(async () => {
    await db?.end();
    await stack?.stop();
  });

  it('refused fetches of unknown studies, and by callers without a relevant role, write no access-log rows', async () => {
    const roClient = await client(RO);
    const studyId = await new RoSide(stack, devWallet(RO, stack.provider), roKeys).post(roClient, randomBytes(512));
    const reader = await client(READER);
    await waitFor(
      'the posting indexed',
      async () => (await reader.send(`query($id: ID!) { study(id: $id) { id } }`, { id: studyId })).data?.study,
    );
    const before = await logRows();
    for (let i = 0; i < 5; i++) expect(await reader.code(FETCH, { id: `0x${randomBytes(32).toString('hex')}` })).toBe('NOT_FOUND');
    // the RO's depositor is signed in but not a radiologist
    expect(await roClient.code(FETCH, { id: studyId })).toBe('FORBIDDEN');
    expect(await reader.code(`query($id: ID!) { encryptedReport(studyId: $id) { reportHash } }`, { id: `0x${'77'.repeat(32)}` })).toBe(
      'NOT_FOUND',
    );
    // a radiologist asking for an RO's report has no RO role: refused, not logged
    expect(await reader.code(`query($id: ID!) { encryptedReport(studyId: $id) { reportHash } }`, { id: studyId })).toBe('FORBIDDEN');
    expect(await logRows()).toBe(before);
    // a radiologist fetching an existing study before their lease is logged, as before
    expect(await reader.code(FETCH, { id: studyId })).toBe('FORBIDDEN');
    expect(await logRows()).toBe(before + 1);
  });

  it('one stored report per claim: the same report again is a retry, another one is CONFLICT', async () => {
    const roClient = await client(RO);
    const reader = await client(READER);
    await registerKey(stack, reader, devWallet(READER, stack.provider), generateX25519KeyPair().publicKey);
    const studyId = await new RoSide(stack, devWallet(RO, stack.provider), roKeys).post(roClient, randomBytes(512));
    await claimThroughApi(stack, reader, READER, studyId);
    const report = sealTo(roKeys.publicKey, Buffer.from('first read'), reportContext(studyId)).toString('base64');
    const first = (await reader.ok(REPORT, { id: studyId, r: report })).submitEncryptedReport;
    expect((await reader.ok(REPORT, { id: studyId, r: report })).submitEncryptedReport).toEqual(first);
    const other = sealTo(roKeys.publicKey, Buffer.from('second thoughts'), reportContext(studyId)).toString('base64');
    expect(await reader.code(REPORT, { id: studyId, r: other })).toBe('CONFLICT');
    const { n } = (await db.query(`SELECT count(*)::int AS n FROM study_reports WHERE study_id = $1`, [studyId])).rows[0];
    expect(n).toBe(1);
  });

  it('per RO: prepared postings not yet on chain, and stored payload bytes, are capped with RATE_LIMITED (QUOTA)', async () => {
    const roClient = await client(RO);
    const ro = devWallet(RO, stack.provider);
    // payload bytes: earlier studies hold ~1 kB; a 30 kB payload fits, the next 20 kB does not
    const upload = async (bytes: number) => {
      const { prepareStudyPosting: p } = await roClient.ok(POST, { i: postingInput() });
      await roClient.ok(RELAY, { tx: await signPrepared(ro, p.transaction) });
      const key = generateStudyKey();
      const vars = {
        id: p.studyId,
        c: encryptPayload(randomBytes(bytes), key, p.studyId).toString('base64'),
        k: sealTo(roKeys.publicKey, key, roKeyContext(p.studyId)).toString('base64'),
      };
      const r = await roClient.send(UPLOAD, vars);
      await waitFor(
        'the posting indexed',
        async () => (await roClient.send(`query($id: ID!) { study(id: $id) { id } }`, { id: p.studyId })).data?.study,
      );
      return r.errors ? { code: r.errors[0].extensions?.code, reason: r.errors[0].extensions?.reason } : 'OK';
    };
    expect(await upload(30_000)).toBe('OK');
    expect(await upload(20_000)).toEqual({ code: 'RATE_LIMITED', reason: 'QUOTA' });

    // prepared postings never sent: the fourth is refused while three are unposted
    for (let i = 0; i < QUOTA.roMaxUnpostedStudies; i++) await roClient.ok(POST, { i: postingInput() });
    const refused = await roClient.send(POST, { i: postingInput() });
    expect(refused.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', reason: 'QUOTA' });
  });

  it('one client address signs in only so many fresh (role-less) wallets; accounts with a role still sign in', async () => {
    const results: string[] = [];
    for (let i = 0; i < QUOTA.newAccountSignInsPerHour + 3; i++) {
      const r = await new GqlClient(stack.api).signIn(Wallet.createRandom());
      results.push(r.data?.login ? 'OK' : String(r.errors?.[0].extensions?.code));
    }
    expect(results.filter((r) => r === 'OK')).toHaveLength(QUOTA.newAccountSignInsPerHour);
    expect(results.slice(-3)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    const admin = new GqlClient(stack.api);
    expect((await admin.signIn(devWallet(ADMIN, stack.provider))).data?.login).toBeTruthy();
    expect((await new GqlClient(stack.api).signIn(devWallet(RO, stack.provider))).data?.login).toBeTruthy();
  });
});
