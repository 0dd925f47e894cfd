import { NestFactory } from '@nestjs/core';
import { Logger } from '@nestjs/common';
import { keccak256, toUtf8Bytes } from 'ethers';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IndexerModule } from '#indexer';
import { increaseTime, DEV_ROLES } from '#devchain';
import { mined } from '#chain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { generateX25519KeyPair } from '#lease';
import { ApiCallError, ApiClient, GASLESS_FIELDS, GaslessRequest, PREPARED_FIELDS } from '../scripts/lib/api-client.js';
import { Stack, apiUrl, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const DEPOSIT = `mutation($ro: ID!, $a: String!) { prepareRoDeposit(roId: $ro, amount: $a) { ${PREPARED_FIELDS} } }`;
const WITHDRAW = `mutation($ro: ID!, $a: String!) { prepareRoWithdraw(roId: $ro, amount: $a) { ${PREPARED_FIELDS} } }`;
const GASLESS_WITHDRAW = `mutation($ro: ID!, $a: String!) { p: prepareGaslessRoWithdraw(roId: $ro, amount: $a) { ${GASLESS_FIELDS} typedDataV4 } }`;
const CANCEL = `mutation($id: ID!) { prepareCancelStudy(studyId: $id) { ${PREPARED_FIELDS} } }`;
const GASLESS_CANCEL = `mutation($id: ID!) { p: prepareGaslessCancelStudy(studyId: $id) { ${GASLESS_FIELDS} } }`;
const DISPUTE = `mutation($id: ID!) { prepareDisputeStudy(studyId: $id) { ${PREPARED_FIELDS} } }`;
const GASLESS_DISPUTE = `mutation($id: ID!) { p: prepareGaslessDisputeStudy(studyId: $id) { ${GASLESS_FIELDS} } }`;
const POST = `mutation($i: StudyPostingInput!) { prepareStudyPosting(input: $i) { studyId transaction { ${PREPARED_FIELDS} } } }`;
const LEDGER = `query($ro: String!) { roLedger(roId: $ro, first: 500) { entries { kind amount studyId txHash account } totals { deposits withdrawals refunds disputes } } }`;
const RO_FUNDS = `query($id: ID!) { ro(id: $id) { depositBalance depositors { account balance } } }`;
const STATUS = `{ indexerStatus { chainHead indexedBlock finalizedBlock finalityDepth } }`;

/** Who is who in this file (dev account numbers, from DEV_ROLES). */
const RO = DEV_ROLES.roDepositor; // Mercy Imaging's depositor
const MERCY_BILLING = DEV_ROLES.roBilling[0]; // Mercy's billing staff
const VALLEY = DEV_ROLES.spare[0]; // Valley Radiology's depositor and billing
const READER = DEV_ROLES.radiologists[0];
const ADMIN = DEV_ROLES.deployer; // the test stack's admin
const SOMEONE_ELSE = DEV_ROLES.settler; // an address that is not the market

describe('RO funds through the API: deposit, withdraw, cancel, dispute (signed and gasless), balances, read-your-writes', () => {
  let stack: Stack;
  let mercy: { id: string };
  const w = (i: number) => devWallet(i, stack.provider);
  const as = async (i: number) => new ApiClient(apiUrl(stack)).signIn(w(i));
  let depositor: ApiClient; // #2, Mercy Imaging's depositor
  let billing: ApiClient; // #6, Mercy Imaging's billing staff
  let rival: ApiClient; // #8, Valley Radiology's depositor
  let radiologist: ApiClient; // #3
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 'OK',
      (e) => (e instanceof ApiCallError ? e.code : `thrown: ${String(e)}`),
    );
  const ledger = async () => (await billing.gql(LEDGER, { ro: mercy.id })).roLedger;
  const marketBalance = (i: number) => stack.owner.market.balanceOf(w(i).address) as Promise<bigint>;

  /** #2 posts a study through the API (prepareStudyPosting, signed by the wallet, relayTransaction). */
  const post = async (maxUsd = 100n) => {
    const { prepareStudyPosting: p } = await depositor.gql(POST, {
      i: {
        modality: 'CT',
        bodyPart: 'CHEST',
        difficultyBps: 10_000,
        urgency: 'ROUTINE',
        patientState: 'CA',
        maxBounty: (maxUsd * USD).toString(),
      },
    });
    const sent = await depositor.signAndRelay(w(RO), p.transaction);
    expect(sent).toMatchObject({ function: 'postStudy', indexed: true });
    return p.studyId as string;
  };
  /** #3 claims gaslessly and reports gaslessly, each right after the previous answer. */
  const claimAndReport = async (studyId: string) => {
    const claimed = await radiologist.signAndRelayGasless(
      w(READER),
      (await radiologist.gql(`mutation($id: ID!) { p: prepareGaslessClaim(studyId: $id) { ${GASLESS_FIELDS} } }`, { id: studyId })).p,
    );
    const hash = keccak256(toUtf8Bytes(`report of ${studyId}`));
    const report = (
      await radiologist.gql(
        `mutation($id: ID!, $h: String!) { p: prepareGaslessReport(studyId: $id, reportHash: $h) { ${GASLESS_FIELDS} } }`,
        { id: studyId, h: hash },
      )
    ).p;
    await radiologist.signAndRelayGasless(w(READER), report);
    return claimed;
  };

  beforeAll(async () => {
    stack = await startStack();
    const { owner } = stack;
    for (const i of [RO, VALLEY]) await mined(owner.token.mint(w(i).address, 10_000n * USD));
    const expiry = (await stack.provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await mined(owner.registry.attest(w(READER).address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
    const admin = await as(ADMIN);
    const create = `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id } }`;
    mercy = (
      await admin.gql(create, {
        n: 'Mercy Imaging',
        k: generateX25519KeyPair().publicKey,
        b: [w(MERCY_BILLING).address],
        d: [w(RO).address],
      })
    ).createRo;
    // the rival's RO: its depositor is a depositor, just not of Mercy
    await admin.gql(create, {
      n: 'Valley Radiology',
      k: generateX25519KeyPair().publicKey,
      b: [w(VALLEY).address],
      d: [w(VALLEY).address],
    });
    [depositor, billing, rival, radiologist] = await Promise.all([as(RO), as(MERCY_BILLING), as(VALLEY), as(READER)]);
    await waitFor('the credential indexed', async () => !(await radiologist.send(`{ worklist { items { id } } }`)).errors);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('indexerStatus.finalizedBlock is 0, not negative, while the chain is younger than the finality depth', async () => {
    const young = (await depositor.gql(STATUS)).indexerStatus;
    expect(young.chainHead).toBeLessThan(young.finalityDepth);
    expect(young.finalizedBlock).toBe(0);
    await stack.provider.send('anvil_mine', [`0x${(young.finalityDepth + 5).toString(16)}`, '0x1']);
    const grown = await waitFor('the indexer at the new head', async () => {
      const s = (await depositor.gql(STATUS)).indexerStatus;
      return s.chainHead >= young.chainHead + young.finalityDepth + 5 ? s : null;
    });
    expect(grown.finalizedBlock).toBe(grown.chainHead - grown.finalityDepth);
  });

  it('a depositor deposits (approve + deposit, signed by its wallet, relayed); the RO balance and ledger show it; others are refused', async () => {
    const txs = (await depositor.gql(DEPOSIT, { ro: mercy.id, a: (1_000n * USD).toString() })).prepareRoDeposit;
    expect(txs.map((t: { to: string }) => t.to)).toEqual([stack.deployment.token.toLowerCase(), stack.deployment.market.toLowerCase()]);
    expect((await depositor.signAndRelay(w(RO), txs[0])).function).toBe('approve');
    const deposited = await depositor.signAndRelay(w(RO), txs[1]);
    expect(deposited).toMatchObject({ function: 'deposit', indexed: true });
    expect(await marketBalance(RO)).toBe(1_000n * USD);

    // right after the relay answered: the ledger and the balances already show it
    const l = await ledger();
    expect(l.entries).toContainEqual(
      expect.objectContaining({
        kind: 'DEPOSIT',
        amount: (1_000n * USD).toString(),
        txHash: deposited.txHash,
        account: w(RO).address.toLowerCase(),
      }),
    );
    expect(l.totals.deposits).toBe((1_000n * USD).toString());
    for (const c of [depositor, billing])
      expect((await c.gql(RO_FUNDS, { id: mercy.id })).ro).toEqual({
        depositBalance: (1_000n * USD).toString(),
        depositors: [{ account: w(RO).address.toLowerCase(), balance: (1_000n * USD).toString() }],
      });

    // refused: another RO's depositor, billing staff (no wallet of its own in the market), a radiologist, bad amounts, too much
    expect(await codeOf(rival.gql(DEPOSIT, { ro: mercy.id, a: '1' }))).toBe('FORBIDDEN');
    expect(await codeOf(billing.gql(DEPOSIT, { ro: mercy.id, a: '1' }))).toBe('FORBIDDEN');
    expect(await codeOf(radiologist.gql(DEPOSIT, { ro: mercy.id, a: '1' }))).toBe('FORBIDDEN');
    for (const a of ['0', '-5', '1.5', 'abc', (1n << 128n).toString()])
      expect(await codeOf(depositor.gql(DEPOSIT, { ro: mercy.id, a })), a).toBe('BAD_INPUT');
    expect(await codeOf(depositor.gql(DEPOSIT, { ro: 'not-a-uuid', a: '1' }))).toBe('BAD_INPUT');
    expect(await codeOf(depositor.gql(DEPOSIT, { ro: mercy.id, a: (1_000_000n * USD).toString() }))).toBe('CONFLICT');
    // relayTransaction sends a token approve only for the market
    const foreign = { ...txs[0], data: stack.owner.token.interface.encodeFunctionData('approve', [w(SOMEONE_ELSE).address, 1n]) };
    expect(await codeOf(depositor.signAndRelay(w(RO), foreign))).toBe('BAD_INPUT');
  });

  it('a depositor deposits gaslessly with an ERC-2612 permit: two signatures, no transaction of its own, no ETH spent', async () => {
    const eth = await stack.provider.getBalance(w(RO).address);
    const before = await marketBalance(RO);
    const PERMIT = `mutation($ro: ID!, $a: String!) { prepareRoDepositPermit(roId: $ro, amount: $a) { typedData typedDataV4 amount deadline } }`;
    const GASLESS_DEPOSIT = `mutation($ro: ID!, $a: String!, $d: Int!, $s: String!) { p: prepareGaslessRoDeposit(roId: $ro, amount: $a, deadline: $d, permitSignature: $s) { ${GASLESS_FIELDS} } }`;
    const { prepareRoDepositPermit: permit } = await depositor.gql(PERMIT, { ro: mercy.id, a: (250n * USD).toString() });
    const permitSignature = await w(RO).signTypedData(permit.typedData.domain, permit.typedData.types, permit.typedData.message);
    expect(await stack.provider.send('eth_signTypedData_v4', [w(RO).address, JSON.stringify(permit.typedDataV4)])).toBe(permitSignature);

    // a permit for another amount, or signed by another wallet, is refused up front
    expect(
      await codeOf(depositor.gql(GASLESS_DEPOSIT, { ro: mercy.id, a: (251n * USD).toString(), d: permit.deadline, s: permitSignature })),
    ).toBe('BAD_INPUT');
    const foreign = await w(VALLEY).signTypedData(permit.typedData.domain, permit.typedData.types, permit.typedData.message);
    expect(await codeOf(depositor.gql(GASLESS_DEPOSIT, { ro: mercy.id, a: permit.amount, d: permit.deadline, s: foreign }))).toBe(
      'BAD_INPUT',
    );
    expect(await codeOf(rival.gql(GASLESS_DEPOSIT, { ro: mercy.id, a: permit.amount, d: permit.deadline, s: permitSignature }))).toBe(
      'FORBIDDEN',
    );

    const { p } = await depositor.gql(GASLESS_DEPOSIT, { ro: mercy.id, a: permit.amount, d: permit.deadline, s: permitSignature });
    const sent = await depositor.signAndRelayGasless(w(RO), p);
    expect(sent).toMatchObject({ function: 'depositWithPermit', indexed: true });
    expect(await marketBalance(RO)).toBe(before + 250n * USD);
    expect(await stack.provider.getBalance(w(RO).address)).toBe(eth);
    expect((await ledger()).entries).toContainEqual(
      expect.objectContaining({ kind: 'DEPOSIT', amount: (250n * USD).toString(), txHash: sent.txHash }),
    );
  });

  it('a depositor withdraws, signed and gasless; the ledger shows both WITHDRAWALs; above the balance is CONFLICT', async () => {
    const before = await marketBalance(RO);
    const signed = await depositor.signAndRelay(
      w(RO),
      (await depositor.gql(WITHDRAW, { ro: mercy.id, a: (100n * USD).toString() })).prepareRoWithdraw,
    );
    expect(signed.function).toBe('withdraw');
    const { p } = await depositor.gql(GASLESS_WITHDRAW, { ro: mercy.id, a: (50n * USD).toString() });
    // the typed data signs as given: with ethers (typedData) and with a wallet's eth_signTypedData_v4 (typedDataV4), alike
    const bySigner = await w(RO).signTypedData(p.typedData.domain, p.typedData.types, p.typedData.message);
    expect(await stack.provider.send('eth_signTypedData_v4', [w(RO).address, JSON.stringify(p.typedDataV4)])).toBe(bySigner);
    expect(p.typedData.types.EIP712Domain).toBeUndefined();
    const gasless = await depositor.signAndRelayGasless(w(RO), p);
    expect(gasless).toMatchObject({ function: 'withdraw', indexed: true });
    expect(await marketBalance(RO)).toBe(before - 150n * USD);
    const withdrawals = (await ledger()).entries.filter((e: { kind: string }) => e.kind === 'WITHDRAWAL');
    expect(withdrawals.map((e: { txHash: string; amount: string }) => [e.txHash, e.amount])).toEqual([
      [signed.txHash, (100n * USD).toString()],
      [gasless.txHash, (50n * USD).toString()],
    ]);
    expect(await codeOf(depositor.gql(WITHDRAW, { ro: mercy.id, a: (1_000_000n * USD).toString() }))).toBe('CONFLICT');
    expect(await codeOf(depositor.gql(GASLESS_WITHDRAW, { ro: mercy.id, a: '0' }))).toBe('BAD_INPUT');
    expect(await codeOf(rival.gql(WITHDRAW, { ro: mercy.id, a: '1' }))).toBe('FORBIDDEN');
    expect(await codeOf(rival.gql(GASLESS_WITHDRAW, { ro: mercy.id, a: '1' }))).toBe('FORBIDDEN');
  });

  it('a depositor cancels open studies, signed and gasless: REFUNDs in the ledger; another RO or an unknown study is refused', async () => {
    const [a, b] = [await post(), await post()];
    const unknown = `0x${'ab'.repeat(32)}`;
    for (const q of [CANCEL, GASLESS_CANCEL]) {
      expect(await codeOf(rival.gql(q, { id: a }))).toBe('FORBIDDEN');
      expect(await codeOf(depositor.gql(q, { id: unknown }))).toBe('NOT_FOUND');
      expect(await codeOf(depositor.gql(q, { id: '0x1234' }))).toBe('BAD_INPUT');
      expect(await codeOf(radiologist.gql(q, { id: a }))).toBe('FORBIDDEN');
    }
    const balance = await marketBalance(RO);
    const signed = await depositor.signAndRelay(w(RO), (await depositor.gql(CANCEL, { id: a })).prepareCancelStudy);
    const gasless = await depositor.signAndRelayGasless(w(RO), (await depositor.gql(GASLESS_CANCEL, { id: b })).p);
    expect([signed.function, gasless.function]).toEqual(['cancelStudy', 'cancelStudy']);
    expect(await marketBalance(RO)).toBe(balance + 200n * USD);
    const refunds = (await ledger()).entries.filter((e: { kind: string }) => e.kind === 'REFUND');
    expect(refunds).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ studyId: a, txHash: signed.txHash, amount: (100n * USD).toString() }),
        expect.objectContaining({ studyId: b, txHash: gasless.txHash, amount: (100n * USD).toString() }),
      ]),
    );
    for (const id of [a, b])
      expect((await depositor.gql(`query($id: ID!) { study(id: $id) { status } }`, { id })).study.status).toBe('CANCELLED');
    // cancelled already: the chain's refusal, up front
    expect(await codeOf(depositor.gql(CANCEL, { id: a }))).toBe('CONFLICT');
  });

  it('relayGasless answers a claim and the report can be prepared at once; the RO disputes reports, signed and gasless', async () => {
    const [a, b] = [await post(), await post()];
    // read-your-writes through the index: the claim's answer waits for it, so the next read agrees
    const claimed = await claimAndReport(a);
    expect(claimed.indexed).toBe(true);
    expect((await radiologist.gql(`{ myClaims { id } }`)).myClaims.map((s: { id: string }) => s.id)).toContain(a);

    for (const q of [DISPUTE, GASLESS_DISPUTE]) expect(await codeOf(rival.gql(q, { id: a }))).toBe('FORBIDDEN');
    const disputed = await depositor.signAndRelay(w(RO), (await depositor.gql(DISPUTE, { id: a })).prepareDisputeStudy);
    expect(disputed.function).toBe('dispute');

    // …and through the chain when the index lags: with the indexer stopped, the claim is mined but not indexed, and
    // preparing the report still agrees with the claim's answer (the API checks the chain before refusing)
    await stack.indexer.close();
    try {
      const lagging = await claimAndReport(b);
      expect(lagging.indexed).toBe(false);
      expect(Number((await stack.owner.market.getStudy(b)).status)).toBe(3); // Reported
    } finally {
      stack.indexer = await NestFactory.createApplicationContext(IndexerModule.forRoot(stack.config), { logger: ['error', 'warn'] });
      await stack.indexer.init();
    }
    await waitFor(
      'the report indexed',
      async () => (await depositor.gql(`query($id: ID!) { study(id: $id) { status } }`, { id: b })).study.status === 'REPORTED',
    );
    const gasless = await depositor.signAndRelayGasless(w(RO), (await depositor.gql(GASLESS_DISPUTE, { id: b })).p as GaslessRequest);
    expect(gasless.function).toBe('dispute');
    const disputes = (await ledger()).entries.filter((e: { kind: string }) => e.kind === 'DISPUTE');
    expect(disputes.map((e: { studyId: string; txHash: string }) => [e.studyId, e.txHash])).toEqual([
      [a, disputed.txHash],
      [b, gasless.txHash],
    ]);
    expect(await codeOf(depositor.gql(DISPUTE, { id: a }))).toBe('CONFLICT'); // disputed already
  });

  it("myBalance is the caller's withdrawable market balance from the chain: a radiologist sees a payout once settled", async () => {
    const before = BigInt((await radiologist.gql(`{ myBalance { account withdrawable asOfBlock } }`)).myBalance.withdrawable);
    expect(before).toBe(await marketBalance(READER));
    const id = await post(200n);
    await claimAndReport(id);
    await increaseTime(stack.provider, 8 * 86400); // past the acceptance window: the settler settles it
    const settled = await waitFor('the settlement indexed', async () => {
      const s = (await radiologist.gql(`query($id: ID!) { study(id: $id) { status payout } }`, { id })).study;
      return s.status === 'SETTLED' ? s : null;
    });
    const after = (await radiologist.gql(`{ myBalance { account withdrawable } }`)).myBalance;
    expect(after.account).toBe(w(READER).address.toLowerCase());
    expect(BigInt(after.withdrawable)).toBe(before + BigInt(settled.payout));
    expect(BigInt(after.withdrawable)).toBe(await marketBalance(READER));
    // the depositor's own balance is its deposit balance
    expect((await depositor.gql(`{ myBalance { withdrawable } }`)).myBalance.withdrawable).toBe((await marketBalance(RO)).toString());
  });

  it('the reconciliation finds every deposit, withdrawal, cancel refund and dispute in the ledger, and the chain agrees', async () => {
    const { reconciliation: r } = await billing.gql(
      `query($ro: String!, $from: DateTime!, $to: DateTime!) { reconciliation(roId: $ro, from: $from, to: $to) {
        periodClosed balanceIdentityHolds escrowIdentityHolds discrepancies { kind detail }
        chain { deposits withdrawals refunds disputes } ledger { deposits withdrawals refunds disputes } } }`,
      { ro: mercy.id, from: '2020-01-01T00:00:00.000Z', to: new Date(Date.now() + 30 * 86400_000).toISOString() },
    );
    expect(r.discrepancies).toEqual([]);
    expect(r.periodClosed && r.balanceIdentityHolds && r.escrowIdentityHolds).toBe(true);
    expect(r.ledger).toEqual(r.chain);
    expect(r.chain).toEqual({
      deposits: (1_250n * USD).toString(),
      withdrawals: (150n * USD).toString(),
      refunds: expect.any(String),
      disputes: expect.stringMatching(/^[1-9]\d*$/),
    });
    // the two cancels' maxBounty, plus what the settlement returned of the capped bounty
    expect(BigInt(r.chain.refunds)).toBeGreaterThanOrEqual(200n * USD);
  });

  it("an unknown operationName is the client's error (BAD_INPUT, HTTP 400), not logged as unexpected", async () => {
    const errors = vi.spyOn(Logger.prototype, 'error');
    try {
      for (const body of [
        { query: 'query A { indexerStatus { chainHead } }', operationName: 'B' },
        { query: 'query A { indexerStatus { chainHead } } query C { indexerStatus { indexedBlock } }' },
      ]) {
        const res = await request(stack.api.getHttpServer()).post('/graphql').set('content-type', 'application/json').send(body);
        expect(res.status).toBe(400);
        expect(res.body.errors[0].extensions.code).toBe('BAD_INPUT');
        expect(res.body.errors[0].message).toMatch(/operation/i);
      }
      expect(errors.mock.calls.filter((c) => String(c[0]).includes('unexpected error'))).toEqual([]);
    } finally {
      errors.mockRestore();
    }
  });
});
