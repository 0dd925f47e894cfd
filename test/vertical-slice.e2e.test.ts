import { hexlify, keccak256, randomBytes, toUtf8Bytes } from 'ethers';
import { mined } from '#chain';
import { increaseTime, DEV_ROLES } from '#devchain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBounty, splitSettlement, modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { StudyRepository } from '#db';
import { GqlClient, signPrepared } from './support/client.js';
import { fundRo } from './support/funding.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const STUDY_FIELDS = `id status modality urgency patientState maxBounty currentBounty waitingSeconds radiologist lockedBounty
  feeBps reportHash payout fee refund`;

describe('the first vertical slice over HTTP, real Postgres and a real EVM', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const ALICE = DEV_ROLES.radiologists[0]; // licensed in CA and NY
  const BOB = DEV_ROLES.daoMembers[2]; // licensed in CA (a third radiologist: no DAO here)
  const TEX = DEV_ROLES.radiologists[1]; // licensed in TX only
  const CT_BASE = 40n * USD;

  /** A signed-in GraphQL client for dev account `i`. */
  async function signedIn(i: number): Promise<GqlClient> {
    const c = new GqlClient(stack.api);
    expect((await c.signIn(devWallet(i, stack.provider))).errors).toBeUndefined();
    return c;
  }

  /** The RO funds its balance and posts a CT study of a Californian patient, capped at `maxBounty`. */
  async function postStudy(roIndex: number, maxBounty: bigint): Promise<string> {
    const ro = devWallet(roIndex, stack.provider);
    await fundRo(stack, ro, 1_000n * USD);
    const studyId = hexlify(randomBytes(32));
    const market = stack.owner.market.connect(ro) as typeof stack.owner.market;
    await mined(
      market.postStudy(
        studyId,
        modalityIndex('CT'),
        15_000,
        urgencyIndex('URGENT'),
        stateIndex('CA'),
        maxBounty,
        ...stack.issued(ro.address, studyId),
      ),
    );
    return studyId;
  }

  /** A verifier attests radiologists for CT and MR in the given states, for a year. */
  async function attest(credentials: [number, string[]][]) {
    const expiry = (await stack.provider.getBlock('latest'))!.timestamp + 365 * 86400;
    for (const [i, states] of credentials)
      await mined(
        stack.owner.registry.attest(
          devWallet(i, stack.provider).address,
          toMask(states.map(stateIndex)),
          toMask([modalityIndex('CT'), modalityIndex('MR')]),
          expiry,
        ),
      );
  }

  /** The bounty of the slice's study (CT, difficulty 1.5, URGENT) after `waitingSeconds`. */
  const sliceBounty = (waitingSeconds: bigint, maxBounty: bigint) =>
    computeBounty({ base: CT_BASE, difficultyBps: 15_000n, urgencyBps: 15_000n, escalationBpsPerHour: 500n, waitingSeconds, maxBounty });

  /** The study shows in the worklist (once the credential is indexed) at the contract's bounty, through both query paths. */
  async function expectInWorklist(alice: GqlClient, studyId: string, maxBounty: bigint) {
    const page = await waitFor('the study in the worklist', async () => {
      const r = await alice.send(`{ worklist(first: 10) { asOf items { ${STUDY_FIELDS} } pageInfo { hasNextPage endCursor } } }`);
      return r.data?.worklist.items.length ? r.data.worklist : null;
    });
    const item = page.items[0];
    expect(item).toMatchObject({ id: studyId, status: 'OPEN', modality: 'CT', urgency: 'URGENT', patientState: 'CA' });
    const now = BigInt((await stack.provider.getBlock('latest'))!.timestamp);
    const posted = (await stack.owner.market.getStudy(studyId)).postedAt as bigint;
    const expected = sliceBounty(now - posted, maxBounty);
    expect(expected).toBe(99n * USD); // 40 × 1.5 × 1.5 × (1 + 2 × 5 %)
    expect(BigInt(item.currentBounty)).toBe(expected);
    expect(BigInt(item.currentBounty)).toBe(await stack.owner.market.currentBounty(studyId));

    // the indexer keeps the worklist's bounty ceilings ahead of chain time (libs/db/src/studies/worklist-bounds.ts):
    // once they are published, the page comes from them, with the same bounty
    const studies = stack.api.get(StudyRepository);
    const reader = devWallet(ALICE, stack.provider).address.toLowerCase();
    const viaCeilings = await waitFor('the worklist bounds published past chain time', async () => {
      const r = await studies.worklistPage({
        chainId: stack.config.chainId,
        radiologist: reader,
        asOf: Number(now),
        sort: 'BOUNTY_DESC',
        limit: 10,
      });
      return r.path === 'CEILINGS' ? r : null;
    });
    expect(viaCeilings.rows.map((r) => [r.studyId, r.currentBounty])).toEqual([[studyId, expected]]);
  }

  /** Not licensed in the patient's state: sees nothing, cannot claim. */
  async function expectOutOfStateRefused(studyId: string) {
    const tex = await signedIn(TEX);
    const texList = await waitFor('the Texan credential indexed', async () => (await tex.send(`{ worklist { items { id } } }`)).data);
    expect(texList.worklist.items).toEqual([]);
    expect(await tex.code(`mutation($id: ID!) { claimStudy(studyId: $id) { data } }`, { id: studyId })).toBe('NOT_ELIGIBLE');
  }

  /** The API prepares the claim, the radiologist signs, the API relays; the bounty locked at the claim's block. */
  async function claim(alice: GqlClient, studyId: string, maxBounty: bigint): Promise<bigint> {
    const reader = devWallet(ALICE, stack.provider);
    const { claimStudy } = await alice.ok(`mutation($id: ID!) { claimStudy(studyId: $id) { from to data chainId gasLimit } }`, {
      id: studyId,
    });
    expect(claimStudy.from).toBe(reader.address.toLowerCase());
    const relayed = await alice.ok(`mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash blockNumber function } }`, {
      tx: await signPrepared(reader, claimStudy),
    });
    expect(relayed.relayTransaction.function).toBe('claim');
    const claimBlock = await stack.provider.getBlock(relayed.relayTransaction.blockNumber);
    const posted = (await stack.owner.market.getStudy(studyId)).postedAt as bigint;
    const locked = sliceBounty(BigInt(claimBlock!.timestamp) - posted, maxBounty);

    const claimed = await waitFor('the claim to be indexed', async () => {
      const d = await alice.ok(`query($id: ID!) { study(id: $id) { ${STUDY_FIELDS} } }`, { id: studyId });
      return d.study.status === 'CLAIMED' ? d.study : null;
    });
    expect(claimed).toMatchObject({ radiologist: reader.address.toLowerCase(), lockedBounty: locked.toString(), feeBps: 500 });
    expect((await alice.ok(`{ worklist { items { id } } }`)).worklist.items).toEqual([]);
    expect((await alice.ok(`{ myClaims { id status lockedBounty } }`)).myClaims).toEqual([
      { id: studyId, status: 'CLAIMED', lockedBounty: locked.toString() },
    ]);
    return locked;
  }

  /** Only the claimant reports, and only the hash goes on chain. */
  async function report(alice: GqlClient, bob: GqlClient, studyId: string) {
    const reportHash = keccak256(toUtf8Bytes('encrypted report bytes'));
    expect(
      await bob.code(`mutation($id: ID!, $h: String!) { submitReport(studyId: $id, reportHash: $h) { data } }`, {
        id: studyId,
        h: reportHash,
      }),
    ).toBe('FORBIDDEN');
    const { submitReport } = await alice.ok(
      `mutation($id: ID!, $h: String!) { submitReport(studyId: $id, reportHash: $h) { to data chainId gasLimit } }`,
      { id: studyId, h: reportHash },
    );
    await alice.ok(`mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash } }`, {
      tx: await signPrepared(devWallet(ALICE, stack.provider), submitReport),
    });
    await waitFor('the report to be indexed', async () => {
      const d = await alice.ok(`query($id: ID!) { study(id: $id) { status reportHash } }`, { id: studyId });
      return d.study.status === 'REPORTED' && d.study.reportHash === reportHash;
    });
  }

  /** The acceptance window passes, the settler settles on its own, and the balances are exactly the formula's. */
  async function expectSettled(alice: GqlClient, studyId: string, roIndex: number, locked: bigint, maxBounty: bigint, heldBefore: bigint) {
    const { provider, owner } = stack;
    await increaseTime(provider, 24 * 3600 + 1);
    const settled = await waitFor('the settler to settle and the indexer to see it', async () => {
      const d = await alice.ok(`query($id: ID!) { study(id: $id) { ${STUDY_FIELDS} } }`, { id: studyId });
      return d.study.status === 'SETTLED' ? d.study : null;
    });
    const split = splitSettlement(locked, 500n, maxBounty);
    expect(settled).toMatchObject({ payout: split.payout.toString(), fee: split.fee.toString(), refund: split.refund.toString() });
    const reader = devWallet(ALICE, provider);
    expect(await owner.market.balanceOf(reader.address)).toBe(split.payout);
    expect(await owner.market.balanceOf(devWallet(DEV_ROLES.treasuryOwners[0], provider).address)).toBe(split.fee);
    expect(await owner.market.balanceOf(devWallet(roIndex, provider).address)).toBe(1_000n * USD - locked);
    expect(await owner.token.balanceOf(stack.deployment.market)).toBe(heldBefore + 1_000n * USD); // the RO's deposit, whatever others hold
    await mined((owner.market.connect(reader) as typeof owner.market).withdraw(split.payout));
    expect(await owner.token.balanceOf(reader.address)).toBe(split.payout);
    return split;
  }

  /** The RO's ledger from indexed events (the admin onboards the RO: its wallet is depositor and billing account). */
  async function expectLedger(alice: GqlClient, roIndex: number, maxBounty: bigint, split: ReturnType<typeof splitSettlement>) {
    const ro = devWallet(roIndex, stack.provider);
    const admin = await signedIn(DEV_ROLES.deployer);
    const { createRo } = await admin.ok(
      `mutation($k: String!, $a: String!) { createRo(name: "Slice Imaging", publicKey: $k, billing: [$a], depositors: [$a]) { id } }`,
      { k: `0x${'42'.repeat(32)}`, a: ro.address },
    );
    const roClient = await signedIn(roIndex);
    const ledger = await waitFor('the ledger', async () => {
      const d = await roClient.ok(
        `query($ro: String!) { roLedger(roId: $ro) { entries { kind amount studyId counterparty txHash }
        totals { deposits escrowed payouts fees refunds withdrawals } } }`,
        { ro: createRo.id },
      );
      return d.roLedger.entries.length >= 6 ? d.roLedger : null;
    });
    expect(ledger.entries.map((e: { kind: string }) => e.kind)).toEqual(['DEPOSIT', 'ESCROW', 'LOCK', 'FEE', 'PAYOUT', 'REFUND']);
    expect(ledger.totals).toEqual({
      deposits: (1_000n * USD).toString(),
      escrowed: maxBounty.toString(),
      payouts: split.payout.toString(),
      fees: split.fee.toString(),
      refunds: split.refund.toString(),
      withdrawals: '0',
    });
    expect(await alice.code(`query($ro: String!) { roLedger(roId: $ro) { roId } }`, { ro: createRo.id })).toBe('FORBIDDEN');
  }

  it('an RO posts, the indexer stores, a radiologist signs in, sees the right bounty, claims, reports, and is paid exactly', async () => {
    const RO = DEV_ROLES.roDepositor;
    const maxBounty = 500n * USD;
    const heldBefore = (await stack.owner.token.balanceOf(stack.deployment.market)) as bigint;
    const studyId = await postStudy(RO, maxBounty);
    await attest([
      [ALICE, ['CA', 'NY']],
      [BOB, ['CA']],
      [TEX, ['TX']],
    ]);
    await increaseTime(stack.provider, 2.5 * 3600); // 2.5 hours of waiting: two whole hours of escalation

    expect(await new GqlClient(stack.api).code(`{ worklist { items { id } } }`)).toBe('UNAUTHENTICATED');
    const alice = await signedIn(ALICE);
    await expectInWorklist(alice, studyId, maxBounty);
    await expectOutOfStateRefused(studyId);
    const locked = await claim(alice, studyId, maxBounty);
    // someone else eligible is too late
    const bob = await signedIn(BOB);
    expect(await bob.code(`mutation($id: ID!) { claimStudy(studyId: $id) { data } }`, { id: studyId })).toBe('ALREADY_CLAIMED');
    await report(alice, bob, studyId);
    const split = await expectSettled(alice, studyId, RO, locked, maxBounty, heldBefore);
    await expectLedger(alice, RO, maxBounty, split);
  });

  it('lets exactly one of many concurrent claimers win; the others get ALREADY_CLAIMED', async () => {
    const { provider, owner } = stack;
    const ro = devWallet(DEV_ROLES.spare[2], provider); // its own RO and balance: nothing left over from another test
    await fundRo(stack, ro, 100n * USD);
    const market = owner.market.connect(ro) as typeof owner.market;
    const studyId = hexlify(randomBytes(32));
    await mined(
      market.postStudy(
        studyId,
        modalityIndex('MR'),
        10_000,
        urgencyIndex('STAT'),
        stateIndex('NY'),
        100n * USD,
        ...stack.issued(ro.address, studyId),
      ),
    );
    const expiry = (await provider.getBlock('latest'))!.timestamp + 86400;
    // six funded accounts that play no other part in this file
    const readers = [
      DEV_ROLES.treasuryRelayer,
      DEV_ROLES.studyIdIssuer,
      DEV_ROLES.admin,
      DEV_ROLES.roBilling[0],
      DEV_ROLES.spare[0],
      DEV_ROLES.spare[1],
    ].map((i) => devWallet(i, provider));
    for (const r of readers) {
      await mined(owner.registry.attest(r.address, toMask([stateIndex('NY')]), toMask([modalityIndex('MR')]), expiry));
    }
    const clients = await Promise.all(
      readers.map(async (r) => {
        const c = new GqlClient(stack.api);
        await c.signIn(r);
        return c;
      }),
    );
    for (const c of clients)
      await waitFor(
        'the study in every worklist',
        async () => (await c.send(`{ worklist { items { id } } }`)).data?.worklist.items.length > 0,
      );
    // everyone prepares and signs while the study is still open, then all relay at once
    const signed = await Promise.all(
      clients.map(async (c, i) => {
        const { claimStudy } = await c.ok(`mutation($id: ID!) { claimStudy(studyId: $id) { to data chainId gasLimit } }`, { id: studyId });
        return signPrepared(readers[i], claimStudy);
      }),
    );
    const results = await Promise.all(
      clients.map((c, i) => c.send(`mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash } }`, { tx: signed[i] })),
    );
    const winners = results.filter((r) => !r.errors);
    const losers = results.filter((r) => r.errors);
    expect(winners).toHaveLength(1);
    expect(losers.map((r) => r.errors![0].extensions?.code)).toEqual(Array(readers.length - 1).fill('ALREADY_CLAIMED'));
    const s = await owner.market.getStudy(studyId);
    expect(readers.filter((r) => r.address === s.radiologist)).toHaveLength(1);
  });

  it('answers bad input with BAD_INPUT and never a stack trace', async () => {
    const c = new GqlClient(stack.api);
    await c.signIn(devWallet(ALICE, stack.provider));
    expect(await c.code(`{ study(id: "0x1234") { id } }`)).toBe('BAD_INPUT');
    expect(await c.code(`{ study(id: "${hexlify(randomBytes(32))}") { id } }`)).toBe('NOT_FOUND');
    expect(await c.code(`{ worklist(first: 1000) { asOf } }`)).toBe('BAD_INPUT');
    expect(await c.code(`{ worklist(filter: { states: ["XX"] }) { asOf } }`)).toBe('BAD_INPUT');
    expect(await c.code(`{ worklist(after: "garbage") { asOf } }`)).toBe('BAD_INPUT');
    expect(await c.code(`{ nosuchfield }`)).toBe('BAD_INPUT');
    expect(await c.code(`mutation { relayTransaction(signedTransaction: "0xdeadbeef") { txHash } }`)).toBe('BAD_INPUT');
  });
});
