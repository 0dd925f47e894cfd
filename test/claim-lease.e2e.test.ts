/**
 * The radiologist's claim lease with a fresh key per claim (issue 14 item 5), on the whole stack (anvil, Postgres,
 * indexer, settler, API over HTTP): the RO side (`ClaimLeaseIssuer`, through RoSide) re-encrypts the study for each
 * claim; a second claimant, after the first claim's lease expired, gets another key that the first claimant's key
 * does not open; tampered packages are refused by the API on issue and by `openClaimLease` on open.
 */
import { randomBytes } from 'node:crypto';
import { mined } from '#chain';
import { DEV_ROLES, increaseTime } from '#devchain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import {
  ClaimLeaseRefusedError,
  DecryptionError,
  claimLeaseContext,
  claimLeaseKeyContext,
  decryptUnder,
  generateX25519KeyPair,
  openSealed,
  type ClaimLeasePackage,
} from '#lease';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GqlClient } from './support/client.js';
import {
  FETCH,
  RoSide,
  USD,
  claimThroughApi,
  createRo,
  openFetched,
  packageOf,
  registerKey,
  type FetchedStudy,
} from './support/ro-flow.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

/** Who is who in this file (dev account numbers, from DEV_ROLES). */
const RO = DEV_ROLES.roDepositor;
const READER_A = DEV_ROLES.radiologists[0];
const READER_B = DEV_ROLES.radiologists[1];
const ADMIN = DEV_ROLES.deployer; // the test stack's admin

describe('the claim lease: a fresh lease key per claim', () => {
  let stack: Stack;
  const roKeys = generateX25519KeyPair();
  const keysA = generateX25519KeyPair();
  const keysB = generateX25519KeyPair();
  const ro = () => devWallet(RO, stack.provider);
  const side = () => new RoSide(stack, ro(), roKeys);
  const client = async (i: number) => {
    const c = new GqlClient(stack.api);
    await c.signIn(devWallet(i, stack.provider));
    return c;
  };
  let roClient: GqlClient;
  let readerA: GqlClient;
  let readerB: GqlClient;

  beforeAll(async () => {
    stack = await startStack();
    const { owner, provider } = stack;
    const market = owner.market.connect(ro()) as typeof owner.market;
    await mined(owner.token.mint(ro().address, 1_000n * USD));
    await mined((owner.token.connect(ro()) as typeof owner.token).approve(await market.getAddress(), 1_000n * USD));
    await mined(market.deposit(1_000n * USD));
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    for (const i of [READER_A, READER_B])
      await mined(owner.registry.attest(devWallet(i, provider).address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
    await createRo(await client(ADMIN), {
      name: 'Lakeside Imaging',
      publicKey: roKeys.publicKey,
      billing: [ro().address],
      depositors: [ro().address],
    });
    roClient = await client(RO);
    readerA = await client(READER_A);
    readerB = await client(READER_B);
    await registerKey(stack, readerA, devWallet(READER_A, provider), keysA.publicKey);
    await registerKey(stack, readerB, devWallet(READER_B, provider), keysB.publicKey);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** The lease key inside a package, as its recipient unwraps it. */
  const leaseKeyOf = (pkg: ClaimLeasePackage, privateKey: string) => {
    const t = pkg.terms;
    const { chainId, market } = stack.deployment;
    return openSealed(
      privateKey,
      pkg.wrappedKey,
      claimLeaseKeyContext(chainId, market, t.studyId, t.radiologist, t.claimedAt, t.expiresAt, t.recipientKey),
    ).subarray(0, 32);
  };
  const refusalOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'OPENED';
    } catch (e) {
      if (e instanceof ClaimLeaseRefusedError) return e.reason;
      throw e;
    }
  };

  it("a second claimant after the first claim's lease expired gets another key; the first claimant's key does not open the new ciphertext", async () => {
    const study = randomBytes(32 * 1024);
    const studyId = await side().post(roClient, study);

    await claimThroughApi(stack, readerA, READER_A, studyId);
    await side().issuePendingLease(roClient, studyId);
    const { encryptedStudy: first } = (await readerA.ok(FETCH, { id: studyId })) as { encryptedStudy: FetchedStudy };
    expect((await openFetched(stack, first, keysA.privateKey)).equals(study)).toBe(true);
    const keyA = leaseKeyOf(packageOf(first), keysA.privateKey);

    // the first claim lapses (chain time); the second radiologist claims the study again
    await increaseTime(stack.provider, 4 * 3600 + 60);
    await waitFor(
      "the first claim's lease over for its claimant",
      async () => (await readerA.send(FETCH, { id: studyId })).errors?.[0].extensions?.code === 'LEASE_EXPIRED',
    );
    await claimThroughApi(stack, readerB, READER_B, studyId);
    await side().issuePendingLease(roClient, studyId);
    const { encryptedStudy: second } = (await readerB.ok(FETCH, { id: studyId })) as { encryptedStudy: FetchedStudy };
    expect((await openFetched(stack, second, keysB.privateKey)).equals(study)).toBe(true);
    const keyB = leaseKeyOf(packageOf(second), keysB.privateKey);

    // another key, another ciphertext; the first claimant's key does not decrypt the second claim's copy
    expect(keyA.equals(keyB)).toBe(false);
    expect(second.ciphertext).not.toBe(first.ciphertext);
    const t = packageOf(second).terms;
    const contextB = claimLeaseContext(stack.deployment.chainId, stack.deployment.market, studyId, t.radiologist, t.claimedAt, t.expiresAt);
    expect(decryptUnder(keyB, packageOf(second).ciphertext, contextB).equals(study)).toBe(true);
    expect(() => decryptUnder(keyA, packageOf(second).ciphertext, contextB)).toThrow(DecryptionError);
    // the first claimant gets nothing from the API any more, and their old package no longer matches the chain
    expect(await readerA.code(FETCH, { id: studyId })).toBe('LEASE_EXPIRED');
    expect(await refusalOf(openFetched(stack, first, keysA.privateKey))).toBe('NOT_CURRENT_CLAIM');
    // nor can the first claimant open the second package with their own key
    expect(await refusalOf(openFetched(stack, second, keysA.privateKey))).toBe('NOT_RECIPIENT');
  });

  it('tampered packages are refused: by the API on issue, and by openClaimLease against the chain', async () => {
    const study = randomBytes(4096);
    const studyId = await side().post(roClient, study);
    await claimThroughApi(stack, readerA, READER_A, studyId);
    const flip = (b64: string) => {
      const b = Buffer.from(b64, 'base64');
      b[b.length - 20] ^= 1;
      return b.toString('base64');
    };
    const issue = (alter: Parameters<RoSide['issuePendingLease']>[2]) => side().issuePendingLease(roClient, studyId, alter);
    // the API recovers the signer from the terms it rebuilds: an altered ciphertext or key no longer names the poster
    await expect(issue({ alter: (l) => ({ ...l, ciphertext: flip(l.ciphertext) }) })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(issue({ alter: (l) => ({ ...l, wrappedKey: flip(l.wrappedKey) }) })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // terms: a claim time or expiry other than the indexed claim's, an issue time before the claim
    await expect(issue({ alter: (l) => ({ ...l, claimedAt: l.claimedAt - 1 }) })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(issue({ alter: (l) => ({ ...l, expiresAt: l.expiresAt + 1 }) })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(issue({ alter: (l) => ({ ...l, issuedAt: l.claimedAt - 1 }) })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    // a ciphertext that is not the study's size, a signature by another wallet, a recipient key not the claimant's
    await expect(issue({ alter: (l) => ({ ...l, ciphertext: Buffer.from('short').toString('base64') }) })).rejects.toMatchObject({
      code: 'BAD_INPUT',
    });
    const stranger = new RoSide(stack, devWallet(READER_B, stack.provider), roKeys);
    await expect(stranger.issuePendingLease(roClient, studyId, { trustApi: true })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(issue({ alter: (l) => ({ ...l, recipientKey: keysB.publicKey }) })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    // nothing was stored: the claim still waits for its package, which then opens
    expect(await readerA.code(FETCH, { id: studyId })).toBe('NOT_FOUND');
    await side().issuePendingLease(roClient, studyId);
    const { encryptedStudy: got } = (await readerA.ok(FETCH, { id: studyId })) as { encryptedStudy: FetchedStudy };
    expect((await openFetched(stack, got, keysA.privateKey)).equals(study)).toBe(true);

    // what the radiologist refuses even if the API (or its database) changed the package
    const open = (f: FetchedStudy, key = keysA.privateKey) => refusalOf(openFetched(stack, f, key));
    expect(await open({ ...got, ciphertext: flip(got.ciphertext) })).toBe('CIPHERTEXT_MISMATCH');
    // the served lease names no wrappedKeyHash (the terms take it from the key served): a changed key breaks the signature
    expect(await open({ ...got, lease: { ...got.lease, wrappedKey: flip(got.lease.wrappedKey) } })).toBe('SIGNATURE_INVALID');
    expect(await open({ ...got, lease: { ...got.lease, issuedAt: got.lease.issuedAt + 1 } })).toBe('SIGNATURE_INVALID');
    expect(await open({ ...got, lease: { ...got.lease, reportKey: keysB.publicKey } })).toBe('SIGNATURE_INVALID');
    expect(await open({ ...got, lease: { ...got.lease, expiresAt: got.lease.expiresAt - 1 } })).toBe('NOT_CURRENT_CLAIM');
    const sig = got.lease.signature;
    expect(
      await open({ ...got, lease: { ...got.lease, signature: sig.slice(0, 20) + (sig[20] === '1' ? '2' : '1') + sig.slice(21) } }),
    ).toBe('SIGNATURE_INVALID');
    expect(await open(got, keysB.privateKey)).toBe('NOT_RECIPIENT');
  });
});
