import { Wallet, hexlify, keccak256, randomBytes, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { increaseTime, DEV_ROLES } from '#devchain';
import { FORWARD_REQUEST_TYPES, mined } from '#chain';
import { computeBounty, splitSettlement, addMonths, withNpiCheckDigit, modalityIndex, stateIndex, urgencyIndex } from '#domain';
import { GqlClient, signPrepared } from './support/client.js';
import { StudyFeed } from '#api';
import { subscribe } from './support/live.js';
import { fundRo } from './support/funding.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const GASLESS = `request { from to value gas nonce deadline data } domain { name version chainId verifyingContract }`;
const RELAY_GASLESS = `mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash blockNumber function } }`;

describe('a new radiologist, end to end over HTTP and WebSocket', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ api: { feedPollMs: 100 } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('applies, is verified, signs in, sees a study arrive live, claims and reports without ETH, and is paid', async () => {
    const { provider, owner } = stack;
    const wallet = Wallet.createRandom().connect(provider); // never holds ETH
    const me = new GqlClient(stack.api);
    await me.signIn(wallet);

    // application → verification (the verifier signs the attestation with their own wallet)
    const now = (await provider.getBlock('latest'))!.timestamp;
    const { applyForCredential } = await me.ok(
      `mutation($input: CredentialApplicationInput!) { applyForCredential(input: $input) { id status } }`,
      {
        input: {
          npi: withNpiCheckDigit('123456789'),
          licences: [{ state: 'CA', number: 'A-1', expiresOn: new Date(addMonths(now, 40) * 1000).toISOString().slice(0, 10) }],
          modalities: ['CT'],
          subspecialties: [],
          boardCertification: { board: 'ABR', certificateNumber: 'ABR-1' },
        },
      },
    );
    expect(applyForCredential.status).toBe('PENDING');
    // a verifier of its own (the stack's owner signer keeps its own nonces for dev account #0)
    const verifierWallet = devWallet(DEV_ROLES.treasuryOwners[1], provider);
    await mined(owner.registry.grantRole(await owner.registry.VERIFIER_ROLE(), verifierWallet.address));
    const verifier = new GqlClient(stack.api);
    await verifier.signIn(verifierWallet);
    await waitFor(
      'the verifier role indexed',
      async () => (await verifier.send(`{ pendingCredentialApplications { items { id } } }`)).data,
    );
    const { approveCredentialApplication: approval } = await verifier.ok(
      `mutation($id: ID!) { approveCredentialApplication(id: $id) { application { status } transaction { from to data chainId gasLimit } } }`,
      { id: applyForCredential.id },
    );
    await verifier.ok(`mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash } }`, {
      tx: await signPrepared(verifierWallet, approval.transaction),
    });

    // login (a fresh session) → the live worklist
    const radiologist = new GqlClient(stack.api);
    expect((await radiologist.signIn(wallet)).errors).toBeUndefined();
    await waitFor('the credential indexed', async () => (await radiologist.ok(`{ myCredential { active } }`)).myCredential?.active);
    const live = await subscribe(stack.api, radiologist.token!, `subscription { worklistEvents { kind study { id currentBounty } } }`);
    await waitFor('the subscription registered', async () => stack.api.get(StudyFeed).subscribers === 1);

    const ro = devWallet(DEV_ROLES.roDepositor, provider);
    const market = owner.market.connect(ro) as typeof owner.market;
    await fundRo(stack, ro, 500n * USD);
    const studyId = hexlify(randomBytes(32));
    const maxBounty = 200n * USD;
    await mined(
      market.postStudy(
        studyId,
        modalityIndex('CT'),
        12_000,
        urgencyIndex('STAT'),
        stateIndex('CA'),
        maxBounty,
        ...stack.issued(ro.address, studyId),
      ),
    );
    const arrived = (await live.next()).data.worklistEvents;
    expect(arrived).toMatchObject({ kind: 'NEW_STUDY', study: { id: studyId } });
    await live.close();

    // gasless claim
    const gasless = async (mutation: string, vars: Record<string, unknown>) => {
      const { p } = await radiologist.ok(mutation, vars);
      const signature = await wallet.signTypedData(p.domain, FORWARD_REQUEST_TYPES, p.request);
      return radiologist.ok(RELAY_GASLESS, { r: p.request, s: signature });
    };
    const claimed = await gasless(`mutation($id: ID!) { p: prepareGaslessClaim(studyId: $id) { ${GASLESS} } }`, { id: studyId });
    expect(claimed.relayGasless.function).toBe('claim');
    const posted = (await owner.market.getStudy(studyId)).postedAt as bigint;
    const claimTime = BigInt((await provider.getBlock(claimed.relayGasless.blockNumber))!.timestamp);
    const locked = computeBounty({
      base: 40n * USD,
      difficultyBps: 12_000n,
      urgencyBps: 25_000n,
      escalationBpsPerHour: 500n,
      waitingSeconds: claimTime - posted,
      maxBounty,
    });
    await waitFor('the claim indexed', async () => (await radiologist.ok(`{ myClaims { id status } }`)).myClaims[0]?.status === 'CLAIMED');

    // gasless report
    const reportHash = keccak256(toUtf8Bytes('sealed report'));
    const reported = await gasless(
      `mutation($id: ID!, $h: String!) { p: prepareGaslessReport(studyId: $id, reportHash: $h) { ${GASLESS} } }`,
      { id: studyId, h: reportHash },
    );
    expect(reported.relayGasless.function).toBe('submitReport');

    // paid: the acceptance window passes and the settler settles
    await increaseTime(provider, 24 * 3600 + 1);
    const settled = await waitFor(
      'settled',
      async () => {
        const { study } = await radiologist.ok(`query($id: ID!) { study(id: $id) { status payout lockedBounty } }`, { id: studyId });
        return study.status === 'SETTLED' ? study : null;
      },
      30_000,
    );
    const split = splitSettlement(locked, 500n, maxBounty);
    expect(settled).toMatchObject({ lockedBounty: locked.toString(), payout: split.payout.toString() });
    expect(await owner.market.balanceOf(wallet.address)).toBe(split.payout);
    expect(await provider.getBalance(wallet.address)).toBe(0n);

    // and takes the money home, still without ETH: more than the balance is refused up front, all of it is sent
    const WITHDRAW = `mutation($a: String!) { p: prepareGaslessWithdraw(amount: $a) { ${GASLESS} } }`;
    expect(await radiologist.code(WITHDRAW, { a: (split.payout + 1n).toString() })).toBe('CONFLICT');
    expect(await radiologist.code(WITHDRAW, { a: '0' })).toBe('BAD_INPUT');
    const withdrawn = await gasless(WITHDRAW, { a: split.payout.toString() });
    expect(withdrawn.relayGasless.function).toBe('withdraw');
    expect(await owner.market.balanceOf(wallet.address)).toBe(0n);
    expect(await owner.token.balanceOf(wallet.address)).toBe(split.payout);
    expect(await provider.getBalance(wallet.address)).toBe(0n);
  });
});
