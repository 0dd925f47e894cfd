import { mined } from '#chain';
import { increaseTime, mine, DEV_ROLES } from '#devchain';
import { hexlify, keccak256, randomBytes, toUtf8Bytes, type Contract } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { generateX25519KeyPair } from '#lease';
import { GqlClient } from './support/client.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const CONFIRMATIONS = 3;
const FINALITY = 6;

describe('confirmations and finality as users see them', () => {
  let stack: Stack;
  beforeAll(async () => {
    // the settler stays out of the way (one poll a minute): this test settles by itself
    stack = await startStack({ settlerPollMs: 60_000, indexer: { confirmations: CONFIRMATIONS, finalityDepth: FINALITY } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('nothing is settled or paid before the configured confirmations; then PENDING; FINAL past the finality depth', async () => {
    const { provider, owner } = stack;
    const ro = devWallet(DEV_ROLES.roDepositor, provider);
    const reader = devWallet(DEV_ROLES.radiologists[0], provider);
    const market = owner.market.connect(ro) as Contract;
    await mined(owner.token.mint(ro.address, 1_000n * USD));
    await mined((owner.token.connect(ro) as Contract).approve(await market.getAddress(), 1_000n * USD));
    await mined(market.deposit(1_000n * USD));
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await mined(owner.registry.attest(reader.address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
    const studyId = hexlify(randomBytes(32));
    await mined(
      market.postStudy(
        studyId,
        modalityIndex('CT'),
        10_000,
        urgencyIndex('ROUTINE'),
        stateIndex('CA'),
        100n * USD,
        ...stack.issued(ro.address, studyId),
      ),
    );
    await mined((owner.market.connect(reader) as Contract).claim(studyId));
    await mined((owner.market.connect(reader) as Contract).submitReport(studyId, keccak256(toUtf8Bytes('report'))));
    await increaseTime(provider, 25 * 3600);
    for (let i = 0; i < CONFIRMATIONS; i++) await mine(provider); // the report is confirmed before the settlement
    const settled = await mined((owner.market.connect(devWallet(DEV_ROLES.settler, provider)) as Contract).settle(studyId));
    const settleBlock = settled!.blockNumber;

    // the RO's account (issue 7): the RO wallet deposits and reads its billing ledger; dev #0 is the admin that onboards it
    const admin = new GqlClient(stack.api);
    await admin.signIn(devWallet(DEV_ROLES.deployer, provider));
    const { createRo: roAccount } = await admin.ok(
      `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id } }`,
      { n: 'Finality Imaging', k: generateX25519KeyPair().publicKey, b: [ro.address], d: [ro.address] },
    );
    const gql = new GqlClient(stack.api);
    await gql.signIn(ro);
    const head = async () => (await provider.getBlockNumber()) as number;
    const view = async () => {
      // wait until the indexer has everything it may have (head − confirmations), then read
      const h = await head();
      await waitFor(
        'the indexer at head − confirmations',
        async () => (await gql.ok(`{ indexerStatus { indexedBlock } }`)).indexerStatus.indexedBlock === h - CONFIRMATIONS,
      );
      const d = await gql.ok(
        `query($id: ID!, $ro: String!) {
           study(id: $id) { status payout confirmations finality }
           roLedger(roId: $ro) { entries { kind amount finality confirmations } totals { payouts } finalTotals { payouts } }
           indexerStatus { chainHead confirmations finalityDepth finalizedBlock halted }
         }`,
        { id: studyId, ro: roAccount.id },
      );
      return { ...d, depth: h - settleBlock };
    };

    // 0..CONFIRMATIONS−1 blocks on top of the settlement: not settled, no payout anywhere
    for (let i = 0; i < CONFIRMATIONS; i++) {
      const v = await view();
      expect(v.depth).toBe(i);
      expect(v.study.status).toBe('REPORTED');
      expect(v.study.payout).toBeNull();
      expect(v.roLedger.entries.find((e: { kind: string }) => e.kind === 'PAYOUT')).toBeUndefined();
      expect(v.roLedger.totals.payouts).toBe('0');
      await mine(provider);
    }
    // CONFIRMATIONS blocks on top: settled and paid, shown as PENDING
    let v = await view();
    expect(v.depth).toBe(CONFIRMATIONS);
    expect(v.study).toMatchObject({ status: 'SETTLED', finality: 'PENDING', confirmations: CONFIRMATIONS });
    expect(BigInt(v.study.payout)).toBeGreaterThan(0n);
    expect(v.roLedger.entries.find((e: { kind: string }) => e.kind === 'PAYOUT')).toMatchObject({
      finality: 'PENDING',
      amount: v.study.payout,
    });
    expect(v.roLedger.totals.payouts).toBe(v.study.payout);
    expect(v.roLedger.finalTotals.payouts).toBe('0');
    expect(v.indexerStatus).toMatchObject({ confirmations: CONFIRMATIONS, finalityDepth: FINALITY, halted: false });

    // past the finality depth: FINAL
    while ((await head()) - settleBlock < FINALITY) await mine(provider);
    v = await view();
    expect(v.study).toMatchObject({ status: 'SETTLED', finality: 'FINAL' });
    expect(v.roLedger.entries.find((e: { kind: string }) => e.kind === 'PAYOUT').finality).toBe('FINAL');
    expect(v.roLedger.finalTotals.payouts).toBe(v.study.payout);
  });
});
