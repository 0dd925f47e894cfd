import { createHash } from 'node:crypto';
import { hexlify, randomBytes, Wallet } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { increaseTime, DEV_ROLES } from '#devchain';
import { mined } from '#chain';
import { modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { GqlClient, signPrepared } from './support/client.js';
import { StudyFeed } from '#api';
import { subscribe } from './support/live.js';
import { fundRo } from './support/funding.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const EVENTS = `subscription { worklistEvents { kind asOf study { id status patientState currentBounty radiologist } } }`;

describe('the live worklist over graphql-ws', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ api: { feedPollMs: 100, cursorMaxAgeSeconds: 600, maxFeedsPerAccount: 2 } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('pushes new eligible studies, bounty increases and studies taken by someone else, each only to who may claim them', async () => {
    const { provider, owner } = stack;
    const ro = devWallet(DEV_ROLES.roDepositor, provider);
    const market = owner.market.connect(ro) as typeof owner.market;
    await fundRo(stack, ro, 1_000n * USD);
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    const [alice, bob, tex] = [
      devWallet(DEV_ROLES.radiologists[0], provider),
      devWallet(DEV_ROLES.daoMembers[2], provider) /* a third radiologist: no DAO here */,
      devWallet(DEV_ROLES.radiologists[1], provider),
    ];
    for (const [w, state] of [
      [alice, 'CA'],
      [bob, 'CA'],
      [tex, 'TX'],
    ] as const)
      await mined(owner.registry.attest(w.address, toMask([stateIndex(state)]), toMask([modalityIndex('CT')]), expiry));
    const clients = await Promise.all(
      [alice, bob, tex].map(async (w) => {
        const c = new GqlClient(stack.api);
        await c.signIn(w);
        await waitFor('the credential indexed', async () => !(await c.send(`{ worklist { items { id } } }`)).errors);
        return c;
      }),
    );

    // a stranger without a credential cannot subscribe
    const stranger = new GqlClient(stack.api);
    await stranger.signIn(Wallet.createRandom()); // a new account: no credential
    const refused = await subscribe(stack.api, stranger.token!, EVENTS);
    expect((await refused.next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await refused.close();
    const anonymous = await subscribe(stack.api, 'not-a-session', EVENTS);
    expect((await anonymous.next()).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await anonymous.close();

    const a = await subscribe(stack.api, clients[0].token!, EVENTS);
    const t = await subscribe(stack.api, clients[2].token!, EVENTS);
    await waitFor('both subscriptions registered', async () => stack.api.get(StudyFeed).subscribers === 2);

    const post = async (state: string) => {
      const id = hexlify(randomBytes(32));
      await mined(
        market.postStudy(
          id,
          modalityIndex('CT'),
          10_000,
          urgencyIndex('ROUTINE'),
          stateIndex(state),
          100n * USD,
          ...stack.issued(ro.address, id),
        ),
      );
      return id;
    };
    const ca = await post('CA');
    const fresh = await a.next();
    expect(fresh.data.worklistEvents).toMatchObject({ kind: 'NEW_STUDY', study: { id: ca, status: 'OPEN', patientState: 'CA' } });
    const bounty0 = BigInt(fresh.data.worklistEvents.study.currentBounty);
    expect(bounty0).toBe(await owner.market.currentBounty(ca));

    // the Texan hears of the Texan study only, not the Californian one posted before it
    const tx = await post('TX');
    expect((await t.next()).data.worklistEvents).toMatchObject({ kind: 'NEW_STUDY', study: { id: tx } });

    // an hour of waiting raises the bounty
    await increaseTime(provider, 3600);
    const raised = (await a.next()).data.worklistEvents;
    expect(raised).toMatchObject({ kind: 'BOUNTY_CHANGED', study: { id: ca } });
    expect(BigInt(raised.study.currentBounty)).toBeGreaterThan(bounty0);
    expect(BigInt(raised.study.currentBounty)).toBe(await owner.market.currentBounty(ca));

    // Bob claims it: Alice is told it is gone
    const { claimStudy } = await clients[1].ok(`mutation($id: ID!) { claimStudy(studyId: $id) { to data chainId gasLimit } }`, { id: ca });
    await clients[1].ok(`mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash } }`, {
      tx: await signPrepared(bob, claimStudy),
    });
    const taken = (await a.next()).data.worklistEvents;
    expect(taken).toMatchObject({ kind: 'STUDY_TAKEN', study: { id: ca, status: 'CLAIMED', radiologist: bob.address.toLowerCase() } });
    // the Texan heard only of the Texan study and its bounty
    while (t.pending()) expect((await t.next()).data.worklistEvents.study.id).toBe(tx);
    await a.close();
    await t.close();
  });

  it('signs worklist cursors: a forged time, another radiologist, or a cursor older than the page age is BAD_INPUT', async () => {
    const { provider, owner } = stack;
    const ro = devWallet(DEV_ROLES.roDepositor, provider);
    const market = owner.market.connect(ro) as typeof owner.market;
    await fundRo(stack, ro, 1_000n * USD);
    for (let i = 0; i < 2; i++) {
      const id = hexlify(randomBytes(32));
      await mined(
        market.postStudy(
          id,
          modalityIndex('CT'),
          10_000,
          urgencyIndex('ROUTINE'),
          stateIndex('CA'),
          100n * USD,
          ...stack.issued(ro.address, id),
        ),
      );
    }
    const [alice, bob] = await Promise.all(
      [DEV_ROLES.radiologists[0], DEV_ROLES.daoMembers[2]].map(async (k) => {
        const c = new GqlClient(stack.api);
        await c.signIn(devWallet(k, provider));
        return c;
      }),
    );
    const PAGE = `query($after: String) { worklist(first: 1, after: $after) { asOf items { id } pageInfo { endCursor } } }`;
    let first: { asOf: string; items: { id: string }[]; pageInfo: { endCursor: string } } | undefined;
    await waitFor('two studies on the worklist', async () => {
      first = (await alice.send(PAGE)).data?.worklist;
      return !!first?.pageInfo.endCursor && (await alice.send(PAGE, { after: first.pageInfo.endCursor })).data?.worklist.items.length === 1;
    });
    const cursor = first!.pageInfo.endCursor;
    const second = await alice.ok(PAGE, { after: cursor });
    expect(second.worklist.asOf).toBe(first!.asOf);
    expect(second.worklist.items[0].id).not.toBe(first!.items[0].id);

    // the same position with its time moved (a day on: the future; a year back: the past) under the old signature
    const [body, tag] = cursor.split('.');
    const position = JSON.parse(Buffer.from(body, 'base64url').toString());
    for (const t of [position.t + 86_400, position.t - 365 * 86_400]) {
      const forged = `${Buffer.from(JSON.stringify({ ...position, t })).toString('base64url')}.${tag}`;
      expect(await alice.code(PAGE, { after: forged })).toBe('BAD_INPUT');
    }
    // an unsigned cursor (the old form), and Alice's cursor used by Bob
    expect(await alice.code(PAGE, { after: body })).toBe('BAD_INPUT');
    expect(await bob.code(PAGE, { after: cursor })).toBe('BAD_INPUT');
    // a genuine cursor is refused once its time is older than the page age (600 s here)
    await increaseTime(provider, 700);
    await waitFor('the chain clock moved', async () => (await alice.send(PAGE, { after: cursor })).errors !== undefined);
    const expired = await alice.send(PAGE, { after: cursor });
    expect(expired.errors?.[0].extensions).toEqual({ code: 'BAD_INPUT', reason: 'CURSOR_EXPIRED' });
    expect(JSON.stringify(expired.errors)).not.toMatch(/at .*\.ts:/);
  });

  it('caps live feeds per account, and ends a feed with a typed error on sign-out, session expiry or revocation', async () => {
    const { provider, owner } = stack;
    const alice = devWallet(DEV_ROLES.radiologists[0], provider);
    const sessions = await Promise.all(
      [0, 1, 2].map(async () => {
        const c = new GqlClient(stack.api);
        await c.signIn(alice);
        return c;
      }),
    );
    const feeds = stack.api.get(StudyFeed);
    await waitFor('no feed left from earlier tests', async () => feeds.subscribers === 0);
    const first = await subscribe(stack.api, sessions[0].token!, EVENTS);
    const second = await subscribe(stack.api, sessions[1].token!, EVENTS);
    await waitFor('two feeds registered', async () => feeds.subscribers === 2);
    // a third feed of the same account, whatever the session, is refused
    const third = await subscribe(stack.api, sessions[2].token!, EVENTS);
    expect((await third.next()).errors?.[0].extensions).toEqual({ code: 'RATE_LIMITED', reason: 'TOO_MANY_FEEDS' });
    await third.close();
    expect(feeds.subscribers).toBe(2);

    // signing out ends that session's feed with UNAUTHENTICATED; the other goes on
    await sessions[0].ok(`mutation { logout }`);
    const loggedOut = await first.next();
    expect(loggedOut.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(loggedOut.errors?.[0].message).toMatch(/session ended/);
    await waitFor('one feed left', async () => feeds.subscribers === 1);

    // an expired session ends its feed too
    const db = new pg.Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    try {
      const replacement = await subscribe(stack.api, sessions[2].token!, EVENTS);
      await waitFor('the replacement registered', async () => feeds.subscribers === 2);
      await db.query(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [
        createHash('sha256').update(sessions[2].token!).digest('hex'),
      ]);
      expect((await replacement.next()).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      await replacement.close();
    } finally {
      await db.end();
    }

    // revoking the credential ends the last feed with FORBIDDEN once the indexer has seen it
    await mined(owner.registry.revoke(alice.address));
    const revoked = await second.next(30_000);
    expect(revoked.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    await waitFor('no feed left', async () => feeds.subscribers === 0);
    for (const f of [first, second]) await f.close();
  });
});
