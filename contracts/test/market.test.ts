import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ContractFactory,
  MaxUint256,
  Signature,
  ZeroAddress,
  ZeroHash,
  encodeBytes32String,
  id as keccakId,
  type HDNodeWallet,
} from 'ethers';
import { computeBounty, splitSettlement } from '#domain';
import { increaseTime, revert, snapshot } from '#devchain';
import { PERMIT_TYPES, issuanceArgs, issueStudyId, loadArtifact } from '#chain';
import {
  ALL_MODALITIES,
  ALL_STATES,
  Status,
  USD,
  assertConserved,
  blockTimestamp,
  eventsOf,
  expectError,
  seenErrors,
  send,
  startWorld,
  type World,
} from './fixture.js';

const CA = 4; // index of 'CA' in US_STATES
const NY = 34;
const XR = 0;
const CT = 1;
const MR = 2;
const URGENT = 1;
const HOUR = 3600;
const DAY = 24 * HOUR;

let w: World;
let ro: HDNodeWallet, ro2: HDNodeWallet, rad: HDNodeWallet, rad2: HDNodeWallet, rad3: HDNodeWallet, stranger: HDNodeWallet;
let snap: string;
const gas: Record<string, bigint> = {};

const sid = (label: string) => keccakId(`study:${label}`);
const rh = (label: string) => keccakId(`report:${label}`);
/** postStudy's issuance arguments: the study ID issued to `to` by the market's issuer */
const issued = (to: HDNodeWallet, studyId: string, issuedUntil?: bigint) => issuanceArgs(w.issue(to.address, studyId, issuedUntil));

beforeAll(async () => {
  w = await startWorld();
  [, , ro, ro2, rad, rad2, rad3, stranger] = w.wallets;
  const farFuture = BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * DAY);
  for (const r of [ro, ro2]) {
    await send(w.c.token.mint(r.address, 1_000_000n * USD));
    await send(w.as(r).token.approve(w.deployment.market, MaxUint256));
  }
  const reg = w.as(w.verifier).registry;
  await send(reg.attest(rad.address, ALL_STATES, ALL_MODALITIES, farFuture));
  await send(reg.attest(rad2.address, 1n << BigInt(CA), (1n << BigInt(CT)) | (1n << BigInt(MR)), farFuture));
});

afterAll(async () => {
  if (Object.keys(gas).length) console.log('happy-path gas:', Object.fromEntries(Object.entries(gas).map(([k, v]) => [k, Number(v)])));
  await w?.anvil.stop();
});

beforeEach(async () => {
  snap = await snapshot(w.provider);
});
afterEach(async () => {
  await revert(w.provider, snap);
});

const accounts = () => [ro, ro2, rad, rad2, rad3, stranger, w.owner].map((a) => a.address);

async function post(
  from: HDNodeWallet,
  label: string,
  o: { modality?: number; difficulty?: number; urgency?: number; state?: number; max?: bigint; deposit?: bigint } = {},
) {
  const m = w.as(from).market;
  if (o.deposit !== 0n) await send(m.deposit(o.deposit ?? o.max ?? 100n * USD));
  return send(
    m.postStudy(
      sid(label),
      o.modality ?? CT,
      o.difficulty ?? 15000,
      o.urgency ?? URGENT,
      o.state ?? CA,
      o.max ?? 100n * USD,
      ...issued(from, sid(label)),
    ),
  );
}

describe('StudyMarket happy path', () => {
  it('pays the radiologist the locked bounty minus the fee, the fee to the treasury and the rest back to the RO', async () => {
    const m = w.as(ro).market;
    const ids = [sid('happy')];
    const check = () => assertConserved(w, accounts(), ids);
    await check();

    const dep = await send(m.deposit(150n * USD));
    expect(eventsOf(w.c, dep, 'Deposited')[0].args.amount).toBe(150n * USD);
    await check();

    const posted = await send(m.postStudy(ids[0], CT, 15000, URGENT, CA, 120n * USD, ...issued(ro, ids[0])));
    gas.postStudy = posted.gasUsed;
    const postedAt = await blockTimestamp(w.provider, posted.blockNumber);
    const ev = eventsOf(w.c, posted, 'StudyPosted')[0].args;
    expect([ev.modality, ev.difficultyBps, ev.urgency, ev.patientState, ev.maxBounty, ev.postedAt]).toEqual([
      BigInt(CT),
      15000n,
      BigInt(URGENT),
      BigInt(CA),
      120n * USD,
      postedAt,
    ]);
    expect(await m.balanceOf(ro.address)).toBe(30n * USD);
    await check();

    await increaseTime(w.provider, 2 * HOUR);
    const claimed = await send(w.as(rad).market.claim(ids[0]));
    gas.claim = claimed.gasUsed;
    const claimedAt = await blockTimestamp(w.provider, claimed.blockNumber);
    const expected = computeBounty({
      base: 40n * USD,
      difficultyBps: 15000n,
      urgencyBps: 15000n,
      escalationBpsPerHour: 500n,
      waitingSeconds: claimedAt - postedAt,
      maxBounty: 120n * USD,
    });
    expect(expected).toBe(99n * USD); // 40 × 1.5 × 1.5 × 1.10
    const ce = eventsOf(w.c, claimed, 'StudyClaimed')[0].args;
    expect([ce.radiologist, ce.ro, ce.bounty, ce.feeBps, ce.leaseExpiresAt]).toEqual([
      rad.address,
      ro.address,
      expected,
      500n,
      claimedAt + 4n * BigInt(HOUR),
    ]);
    await check();

    const reported = await send(w.as(rad).market.submitReport(ids[0], rh('happy')));
    gas.submitReport = reported.gasUsed;
    const reportedAt = await blockTimestamp(w.provider, reported.blockNumber);
    expect(eventsOf(w.c, reported, 'ReportSubmitted')[0].args.disputeDeadline).toBe(reportedAt + BigInt(DAY));
    await check();

    await increaseTime(w.provider, DAY);
    const settled = await send(w.as(stranger).market.settle(ids[0]));
    gas.settleFirstCredit = settled.gasUsed; // radiologist's and treasury's balances go from zero to non-zero
    const { payout, fee, refund } = splitSettlement(expected, 500n, 120n * USD);
    expect([payout, fee, refund]).toEqual([94_050_000n, 4_950_000n, 21n * USD]);
    const se = eventsOf(w.c, settled, 'StudySettled')[0].args;
    expect([se.radiologist, se.ro, se.payout, se.fee, se.refund, se.treasury]).toEqual([
      rad.address,
      ro.address,
      payout,
      fee,
      refund,
      w.treasury.address,
    ]);
    expect(await m.balanceOf(rad.address)).toBe(payout);
    expect(await m.balanceOf(w.treasury.address)).toBe(fee);
    expect(await m.balanceOf(ro.address)).toBe(51n * USD);
    await check();

    const s = await m.getStudy(ids[0]);
    expect(s.status).toBe(Status.Settled);
    expect(s.lockedBounty).toBe(expected);
    expect(s.reportHash).toBe(rh('happy'));

    const withdrawn = await send(w.as(rad).market.withdraw(payout));
    gas.withdraw = withdrawn.gasUsed;
    expect(await w.c.token.balanceOf(rad.address)).toBe(payout);
    expect(await m.balanceOf(rad.address)).toBe(0n);
    await send(w.as(w.treasury).market.withdraw(fee));
    await send(m.withdraw(51n * USD));
    expect(await w.c.token.balanceOf(w.deployment.market)).toBe(0n);
    expect(await w.c.token.balanceOf(ro.address)).toBe(1_000_000n * USD - 99n * USD);
    await check();

    // A second cycle measures the steady state: every balance written by settle is already non-zero.
    await send(m.deposit(200n * USD));
    await send(w.as(rad).token.approve(w.deployment.market, 1n));
    await send(w.as(rad).market.deposit(1n)); // keep the radiologist's balance non-zero
    await send(w.as(w.treasury).token.approve(w.deployment.market, 1n));
    await send(w.as(w.treasury).market.deposit(1n)); // and the treasury's
    await send(m.postStudy(sid('happy-2'), CT, 15000, URGENT, CA, 120n * USD, ...issued(ro, sid('happy-2'))));
    await send(w.as(rad).market.claim(sid('happy-2')));
    await send(w.as(rad).market.submitReport(sid('happy-2'), rh('happy-2')));
    await increaseTime(w.provider, DAY);
    gas.settle = (await send(w.as(stranger).market.settle(sid('happy-2')))).gasUsed;
    ids.push(sid('happy-2'));
    await check();

    expect(gas.postStudy).toBeLessThanOrEqual(180_000n);
    expect(gas.settle).toBeLessThanOrEqual(60_000n);
  });

  it('quotes through currentBounty the same bounty that claim then locks', async () => {
    await post(ro, 'quote', { max: 1000n * USD });
    await increaseTime(w.provider, 5 * HOUR + 10);
    const quoted = (await w.c.market.currentBounty(sid('quote'))) as bigint;
    const r = await send(w.as(rad).market.claim(sid('quote')));
    // same block timestamp rules: the claim block is at most a few seconds later, same hour bucket
    expect(eventsOf(w.c, r, 'StudyClaimed')[0].args.bounty).toBe(quoted);
    expect(await w.c.market.currentBounty(sid('quote'))).toBe(quoted);
    expect(await w.c.market.currentBounty(sid('unknown'))).toBe(0n);
  });

  it('deposits with an ERC-2612 permit instead of an approval', async () => {
    const holder = stranger;
    await send(w.c.token.mint(holder.address, 10n * USD));
    const deadline = BigInt((await w.provider.getBlock('latest'))!.timestamp + HOUR);
    const sig = await signPermit(holder, 10n * USD, deadline);
    const r = await send(w.as(holder).market.depositWithPermit(10n * USD, deadline, sig.v, sig.r, sig.s));
    expect(eventsOf(w.c, r, 'Deposited')[0].args.amount).toBe(10n * USD);
    expect(await w.c.market.balanceOf(holder.address)).toBe(10n * USD);
    // A replayed (already used) permit is swallowed; without allowance the transfer itself reverts.
    await send(w.c.token.mint(holder.address, 10n * USD));
    await expectError(w.as(holder).market.depositWithPermit(10n * USD, deadline, sig.v, sig.r, sig.s), 'ERC20InsufficientAllowance');
  });
});

async function signPermit(holder: HDNodeWallet, value: bigint, deadline: bigint, nonce?: bigint) {
  const domain = { name: 'OpenRead Test USD', version: '1', chainId: w.deployment.chainId, verifyingContract: w.deployment.token };
  const n = nonce ?? ((await w.c.token.nonces(holder.address)) as bigint);
  const raw = await holder.signTypedData(domain, PERMIT_TYPES, {
    owner: holder.address,
    spender: w.deployment.market,
    value,
    nonce: n,
    deadline,
  });
  return Signature.from(raw);
}

describe('StudyMarket lifecycle', () => {
  it('re-opens a study whose lease expired so that another radiologist can claim it', async () => {
    const id = sid('lease');
    const posted = await post(ro, 'lease', { modality: MR, max: 500n * USD });
    const postedAt = await blockTimestamp(w.provider, posted.blockNumber);
    await send(w.as(rad).market.claim(id));
    await expectError(w.as(stranger).market.releaseExpiredLease(id), 'LeaseNotExpired');
    await increaseTime(w.provider, 4 * HOUR + 1);
    await expectError(w.as(rad).market.submitReport(id, rh('late')), 'LeaseHasExpired', [id]);
    const released = await send(w.as(stranger).market.releaseExpiredLease(id));
    expect(eventsOf(w.c, released, 'LeaseExpired')[0].args.radiologist).toBe(rad.address);
    let s = await w.c.market.getStudy(id);
    expect([s.status, s.radiologist, s.lockedBounty, s.leaseExpiresAt]).toEqual([Status.Open, ZeroAddress, 0n, 0n]);

    const claimed = await send(w.as(rad2).market.claim(id));
    const claimedAt = await blockTimestamp(w.provider, claimed.blockNumber);
    const bounty = computeBounty({
      base: 60n * USD,
      difficultyBps: 15000n,
      urgencyBps: 15000n,
      escalationBpsPerHour: 500n,
      waitingSeconds: claimedAt - postedAt,
      maxBounty: 500n * USD,
    });
    expect(eventsOf(w.c, claimed, 'StudyClaimed')[0].args.bounty).toBe(bounty);
    s = await w.c.market.getStudy(id);
    expect([s.status, s.radiologist, s.lockedBounty]).toEqual([Status.Claimed, rad2.address, bounty]);
    await expectError(w.as(rad).market.submitReport(id, rh('x')), 'NotClaimant', [id]);
    await send(w.as(rad2).market.submitReport(id, rh('x')));
    await assertConserved(w, accounts(), [id]);
  });

  it('lets a claim take over an expired lease directly, counting the wait from the original posting', async () => {
    const id = sid('takeover');
    const posted = await post(ro, 'takeover', { max: 500n * USD });
    const postedAt = await blockTimestamp(w.provider, posted.blockNumber);
    await send(w.as(rad).market.claim(id));
    await expectError(w.as(rad2).market.claim(id), 'StudyNotOpen', [id, Status.Claimed]);
    await increaseTime(w.provider, 4 * HOUR + 1);
    const r = await send(w.as(rad2).market.claim(id));
    const at = await blockTimestamp(w.provider, r.blockNumber);
    expect(eventsOf(w.c, r, 'LeaseExpired')[0].args.radiologist).toBe(rad.address);
    expect(eventsOf(w.c, r, 'StudyClaimed')[0].args.bounty).toBe(
      computeBounty({
        base: 40n * USD,
        difficultyBps: 15000n,
        urgencyBps: 15000n,
        escalationBpsPerHour: 500n,
        waitingSeconds: at - postedAt,
        maxBounty: 500n * USD,
      }),
    );
    expect(at - postedAt).toBeGreaterThanOrEqual(4n * BigInt(HOUR));
  });

  it('freezes a study disputed inside the acceptance window so that settle reverts', async () => {
    const id = sid('dispute');
    await post(ro, 'dispute');
    await send(w.as(rad).market.claim(id));
    await expectError(w.as(ro).market.dispute(id), 'InvalidStatus', [id, Status.Claimed]);
    await send(w.as(rad).market.submitReport(id, rh('d')));
    await expectError(w.as(stranger).market.dispute(id), 'NotStudyOwner', [id]);
    await expectError(w.as(stranger).market.settle(id), 'DisputeWindowOpen');
    const r = await send(w.as(ro).market.dispute(id));
    expect(eventsOf(w.c, r, 'StudyDisputed')[0].args.ro).toBe(ro.address);
    expect((await w.c.market.getStudy(id)).status).toBe(Status.Disputed);
    await increaseTime(w.provider, 2 * DAY);
    await expectError(w.as(stranger).market.settle(id), 'InvalidStatus', [id, Status.Disputed]);
    await assertConserved(w, accounts(), [id]);
  });

  it('refuses a dispute once the acceptance window has closed, and then settles', async () => {
    const id = sid('late-dispute');
    await post(ro, 'late-dispute');
    await send(w.as(rad).market.claim(id));
    await send(w.as(rad).market.submitReport(id, rh('ld')));
    await increaseTime(w.provider, DAY);
    await expectError(w.as(ro).market.dispute(id), 'DisputeWindowClosed', [id]);
    await send(w.as(stranger).market.settle(id));
    await expectError(w.as(stranger).market.settle(id), 'InvalidStatus', [id, Status.Settled]);
  });

  it('refunds the whole escrow when the RO cancels an open study, and only then', async () => {
    const id = sid('cancel');
    await post(ro, 'cancel', { max: 70n * USD });
    expect(await w.c.market.balanceOf(ro.address)).toBe(0n);
    await expectError(w.as(ro2).market.cancelStudy(id), 'NotStudyOwner', [id]);
    const r = await send(w.as(ro).market.cancelStudy(id));
    expect(eventsOf(w.c, r, 'StudyCancelled')[0].args.refund).toBe(70n * USD);
    expect(await w.c.market.balanceOf(ro.address)).toBe(70n * USD);
    await expectError(w.as(ro).market.cancelStudy(id), 'InvalidStatus', [id, Status.Cancelled]);
    await expectError(w.as(rad).market.claim(id), 'StudyNotOpen', [id, Status.Cancelled]);

    await post(ro, 'cancel-claimed');
    await send(w.as(rad).market.claim(sid('cancel-claimed')));
    await expectError(w.as(ro).market.cancelStudy(sid('cancel-claimed')), 'InvalidStatus', [sid('cancel-claimed'), Status.Claimed]);
    await assertConserved(w, accounts(), [id, sid('cancel-claimed')]);
  });

  it('rejects ineligible radiologists: unlicensed state, missing modality, revoked or expired credential', async () => {
    await post(ro, 'ny', { state: NY });
    await expectError(w.as(rad2).market.claim(sid('ny')), 'NotEligible', [rad2.address, sid('ny')]);
    await post(ro, 'xr', { modality: XR });
    await expectError(w.as(rad2).market.claim(sid('xr')), 'NotEligible');
    await expectError(w.as(rad3).market.claim(sid('xr')), 'NotEligible');
    await send(w.as(w.verifier).registry.revoke(rad.address));
    await expectError(w.as(rad).market.claim(sid('xr')), 'NotEligible');

    const now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    await send(w.as(w.verifier).registry.attest(rad3.address, ALL_STATES, ALL_MODALITIES, now + 100n));
    expect(await w.c.registry.isEligible(rad3.address, CA, XR)).toBe(true);
    await increaseTime(w.provider, 100);
    expect(await w.c.registry.isEligible(rad3.address, CA, XR)).toBe(false);
    await expectError(w.as(rad3).market.claim(sid('xr')), 'NotEligible');
  });
});

describe('StudyMarket input validation', () => {
  it('rejects invalid deposits, withdrawals and posts with their custom errors', async () => {
    const m = w.as(ro).market;
    await expectError(m.deposit(0), 'ZeroAmount');
    await expectError(m.withdraw(0), 'ZeroAmount');
    await expectError(m.withdraw(1), 'InsufficientBalance', [0n, 1n]);
    await expectError(w.as(stranger).market.deposit(1), 'ERC20InsufficientAllowance');
    await send(m.deposit(10n * USD));
    await expectError(m.postStudy(sid('big'), CT, 15000, 0, CA, 11n * USD, ...issued(ro, sid('big'))), 'InsufficientBalance', [
      10n * USD,
      11n * USD,
    ]);
    const bad: [string, number, number, number, number, bigint][] = [
      [ZeroHash, CT, 15000, 0, CA, USD],
      [sid('b'), 7, 15000, 0, CA, USD],
      [sid('b'), CT, 999, 0, CA, USD],
      [sid('b'), CT, 100001, 0, CA, USD],
      [sid('b'), CT, 15000, 3, CA, USD],
      [sid('b'), CT, 15000, 0, 51, USD],
      [sid('b'), CT, 15000, 0, CA, 0n],
    ];
    for (const args of bad) await expectError(m.postStudy(...args, ...issued(ro, args[0])), 'InvalidStudy');
    await send(m.postStudy(sid('ok'), CT, 100000, 2, 50, USD, ...issued(ro, sid('ok'))));
    await send(m.postStudy(sid('ok2'), 6, 1000, 0, 0, USD, ...issued(ro, sid('ok2'))));
    await expectError(m.postStudy(sid('ok'), CT, 15000, 0, CA, USD, ...issued(ro, sid('ok'))), 'StudyAlreadyExists', [sid('ok')]);
  });

  it('reports unknown studies and wrong statuses with StudyNotFound, InvalidStatus and InvalidReportHash', async () => {
    const nope = sid('nope');
    const m = w.as(rad).market;
    await expectError(m.claim(nope), 'StudyNotFound', [nope]);
    await expectError(m.releaseExpiredLease(nope), 'StudyNotFound', [nope]);
    await expectError(m.submitReport(nope, rh('r')), 'StudyNotFound', [nope]);
    await expectError(m.dispute(nope), 'StudyNotFound', [nope]);
    await expectError(m.settle(nope), 'StudyNotFound', [nope]);
    await expectError(m.cancelStudy(nope), 'StudyNotFound', [nope]);
    await post(ro, 'open');
    const id = sid('open');
    await expectError(m.submitReport(id, ZeroHash), 'InvalidReportHash');
    await expectError(m.submitReport(id, rh('r')), 'InvalidStatus', [id, Status.Open]);
    await expectError(m.releaseExpiredLease(id), 'InvalidStatus', [id, Status.Open]);
    await expectError(m.settle(id), 'InvalidStatus', [id, Status.Open]);
    const g = await w.c.market.getStudy(nope);
    expect(g.status).toBe(Status.None);
  });
});

describe('ownership and roles', () => {
  it('lets only the owner change the treasury, never to the zero address, with two-step ownership transfer', async () => {
    await expectError(w.as(stranger).market.setTreasury(stranger.address), 'OwnableUnauthorizedAccount', [stranger.address]);
    await expectError(w.c.market.setTreasury(ZeroAddress), 'ZeroAddress');
    const r = await send(w.c.market.setTreasury(ro2.address));
    expect(eventsOf(w.c, r, 'TreasuryUpdated')[0].args.treasury).toBe(ro2.address);
    expect(await w.c.market.treasury()).toBe(ro2.address);
    expect([await w.c.market.token(), await w.c.market.parameters(), await w.c.market.registry()]).toEqual([
      w.deployment.token,
      w.deployment.parameters,
      w.deployment.registry,
    ]);

    await send(w.c.market.transferOwnership(stranger.address));
    expect(await w.c.market.owner()).toBe(w.owner.address);
    await expectError(w.as(ro).market.acceptOwnership(), 'OwnableUnauthorizedAccount', [ro.address]);
    await send(w.as(stranger).market.acceptOwnership());
    expect(await w.c.market.owner()).toBe(stranger.address);
    await expectError(w.c.market.setTreasury(ro.address), 'OwnableUnauthorizedAccount');
  });

  it('refuses a zero owner at deployment (OwnableInvalidOwner) and a zero treasury (ZeroAddress)', async () => {
    for (const name of ['TestUSD', 'IncentiveParameters']) {
      const { abi, bytecode } = loadArtifact(name);
      await expectError(new ContractFactory(abi, bytecode, w.owner).deploy(ZeroAddress), 'OwnableInvalidOwner', [ZeroAddress]);
    }
    const { abi, bytecode } = loadArtifact('StudyMarket');
    const f = new ContractFactory(abi, bytecode, w.owner);
    const d = w.deployment;
    await expectError(
      f.deploy(d.token, d.parameters, d.registry, ZeroAddress, w.owner.address, d.forwarder, d.studyIdIssuer),
      'ZeroAddress',
    );
    await expectError(
      f.deploy(d.token, d.parameters, d.registry, d.treasury, ZeroAddress, d.forwarder, d.studyIdIssuer),
      'OwnableInvalidOwner',
    );
    // no issuer would let nobody post (or, if a zero signer were ever accepted, anyone): refused
    await expectError(f.deploy(d.token, d.parameters, d.registry, d.treasury, w.owner.address, d.forwarder, ZeroAddress), 'ZeroAddress');
  });

  it('lets only verifiers attest and revoke, and only valid credentials', async () => {
    const reg = w.as(w.verifier).registry;
    const now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    const later = now + 1000n;
    await expectError(w.as(stranger).registry.attest(rad3.address, 1n, 1n, later), 'AccessControlUnauthorizedAccount');
    await expectError(w.as(stranger).registry.revoke(rad.address), 'AccessControlUnauthorizedAccount');
    await expectError(w.c.registry.renounceRole(VERIFIER_ROLE_HASH, w.verifier.address), 'AccessControlBadConfirmation');
    const invalid: [string, bigint, bigint, bigint][] = [
      [ZeroAddress, 1n, 1n, later],
      [rad3.address, 0n, 1n, later],
      [rad3.address, 1n, 0n, later],
      [rad3.address, 1n << 51n, 1n, later],
      [rad3.address, 1n, 1n << 7n, later],
      [rad3.address, 1n, 1n, now],
    ];
    for (const args of invalid) await expectError(reg.attest(...args), 'InvalidCredential');
    await expectError(reg.revoke(rad3.address), 'CredentialNotFound', [rad3.address]);

    const r = await send(reg.attest(rad3.address, ALL_STATES, 1n, later));
    const ev = eventsOf(w.c, r, 'CredentialAttested')[0].args;
    expect([ev.radiologist, ev.verifier, ev.statesMask, ev.modalitiesMask, ev.expiresAt]).toEqual([
      rad3.address,
      w.verifier.address,
      ALL_STATES,
      1n,
      later,
    ]);
    expect(await w.c.registry.isEligible(rad3.address, 50, 0)).toBe(true);
    expect(await w.c.registry.isEligible(rad3.address, 50, 1)).toBe(false);
    expect(await w.c.registry.isEligible(rad3.address, 51, 0)).toBe(false);
    const rv = await send(reg.revoke(rad3.address));
    expect(eventsOf(w.c, rv, 'CredentialRevoked')[0].args.verifier).toBe(w.verifier.address);
    expect((await w.c.registry.credentialOf(rad3.address)).revoked).toBe(true);
    expect(await w.c.registry.isEligible(rad3.address, 50, 0)).toBe(false);
    await expectError(reg.revoke(rad3.address), 'CredentialNotFound', [rad3.address]);
    await send(reg.attest(rad3.address, ALL_STATES, 1n, later)); // re-attesting un-revokes
    expect(await w.c.registry.isEligible(rad3.address, 50, 0)).toBe(true);
  });

  it('lets only the token owner mint, and enforces ERC-20 and permit rules', async () => {
    const t = w.as(stranger).token;
    expect(await t.decimals()).toBe(6n);
    expect([await t.name(), await t.symbol()]).toEqual(['OpenRead Test USD', 'tUSD']);
    await expectError(t.mint(stranger.address, 1n), 'OwnableUnauthorizedAccount', [stranger.address]);
    await expectError(t.transfer(ro.address, 1n), 'ERC20InsufficientBalance');
    await expectError(w.as(ro).token.transfer(ZeroAddress, 1n), 'ERC20InvalidReceiver');
    await expectError(t.approve(ZeroAddress, 1n), 'ERC20InvalidSpender');
    const now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    const expired = await signPermit(stranger, 1n, now - 1n);
    await expectError(
      t.permit(stranger.address, w.deployment.market, 1n, now - 1n, expired.v, expired.r, expired.s),
      'ERC2612ExpiredSignature',
    );
    const sig = await signPermit(stranger, 1n, now + 1000n);
    await expectError(t.permit(ro.address, w.deployment.market, 1n, now + 1000n, sig.v, sig.r, sig.s), 'ERC2612InvalidSigner');
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = '0x' + (N - BigInt(sig.s)).toString(16).padStart(64, '0');
    await expectError(t.permit(stranger.address, w.deployment.market, 1n, now + 1000n, sig.v, sig.r, highS), 'ECDSAInvalidSignatureS');
    await expectError(t.permit(stranger.address, w.deployment.market, 1n, now + 1000n, 29, sig.r, sig.s), 'ECDSAInvalidSignature');
  });
});

const VERIFIER_ROLE_HASH = keccakId('VERIFIER_ROLE');

describe('IncentiveParameters', () => {
  const name = (s: string) => encodeBytes32String(s);

  it('emits one ParameterUpdated per default value at construction', async () => {
    const logs = await w.c.parameters.queryFilter(w.c.parameters.filters.ParameterUpdated(), w.deployment.deployBlock);
    const seen = logs.map((l) => {
      const p = w.c.parameters.interface.parseLog(l)!;
      return [p.args.name, p.args.key, p.args.value];
    });
    expect(seen).toEqual([
      [name('feeBps'), 0n, 500n],
      [name('leaseDuration'), 0n, 4n * 3600n],
      [name('acceptanceWindow'), 0n, 24n * 3600n],
      [name('escalationBpsPerHour'), 0n, 500n],
      [name('urgencyMultiplierBps'), 0n, 10000n],
      [name('urgencyMultiplierBps'), 1n, 15000n],
      [name('urgencyMultiplierBps'), 2n, 25000n],
      ...[10n, 40n, 60n, 20n, 25n, 50n, 80n].map((v, i) => [name('baseBounty'), BigInt(i), v * USD]),
    ]);
    expect(await w.c.parameters.bountyInputs(CT, 2)).toEqual([40n * USD, 25000n, 500n]);
    expect(await w.c.parameters.claimTerms()).toEqual([4n * 3600n, 500n]);
  });

  it('accepts values on the hard bounds and rejects values beyond them, even from the owner', async () => {
    const p = w.c.parameters;
    const cases: [string, (v: bigint) => Promise<unknown>, bigint[], bigint[]][] = [
      ['feeBps', (v) => p.setFeeBps(v), [0n, 1000n], [1001n]],
      ['leaseDuration', (v) => p.setLeaseDuration(v), [1800n, 48n * 3600n], [1799n, 48n * 3600n + 1n]],
      ['acceptanceWindow', (v) => p.setAcceptanceWindow(v), [3600n, 14n * 86400n], [3599n, 14n * 86400n + 1n]],
      ['escalationBpsPerHour', (v) => p.setEscalationBpsPerHour(v), [0n, 10000n], [10001n]],
      ['urgencyMultiplierBps', (v) => p.setUrgencyMultiplierBps(2, v), [10000n, 50000n], [9999n, 50001n]],
      ['baseBounty', (v) => p.setBaseBounty(6, v), [0n, 10_000n * USD], [10_000n * USD + 1n]],
    ];
    for (const [n, set, ok, bad] of cases) {
      for (const v of ok) {
        const r = await send(set(v) as never);
        const ev = eventsOf(w.c, r, 'ParameterUpdated')[0].args;
        expect([ev.name, ev.value]).toEqual([name(n), v]);
      }
      for (const v of bad) await expectError(set(v), 'ParameterOutOfBounds', [name(n), v]);
    }
    expect(await p.feeBps()).toBe(1000n);
    expect(await p.leaseDuration()).toBe(48n * 3600n);
    expect(await p.acceptanceWindow()).toBe(14n * 86400n);
    expect(await p.escalationBpsPerHour()).toBe(10000n);
    expect(await p.urgencyMultiplierBps(2)).toBe(50000n);
    expect(await p.baseBounty(6)).toBe(10_000n * USD);
    await expectError(p.setUrgencyMultiplierBps(3, 10000), 'UnknownKey', [name('urgencyMultiplierBps'), 3n]);
    await expectError(p.setBaseBounty(7, 1n), 'UnknownKey', [name('baseBounty'), 7n]);
    await expectError(p.urgencyMultiplierBps(3), 'UnknownKey');
    await expectError(p.baseBounty(7), 'UnknownKey');
    await expectError(w.c.market.quoteBounty(7, 10000, 0, 1n, 0n), 'UnknownKey');
  });

  it('lets only the owner set parameters, and snapshots the fee at claim time', async () => {
    await expectError(w.as(stranger).parameters.setFeeBps(1), 'OwnableUnauthorizedAccount', [stranger.address]);
    await post(ro, 'fee');
    await send(w.as(rad).market.claim(sid('fee')));
    await send(w.c.parameters.setFeeBps(1000));
    await send(w.as(rad).market.submitReport(sid('fee'), rh('fee')));
    await increaseTime(w.provider, DAY);
    const r = await send(w.as(rad).market.settle(sid('fee')));
    const ev = eventsOf(w.c, r, 'StudySettled')[0].args;
    const locked = (ev.payout as bigint) + (ev.fee as bigint);
    expect(ev.fee).toBe((locked * 500n) / 10000n); // 5% snapshotted at claim, not the new 10%
  });
});

describe('dispute resolution', () => {
  async function disputed(label: string, max = 100n * USD) {
    await post(ro, label, { max });
    const claimed = await send(w.as(rad).market.claim(sid(label)));
    const locked = eventsOf(w.c, claimed, 'StudyClaimed')[0].args.bounty as bigint;
    await send(w.as(rad).market.submitReport(sid(label), rh(label)));
    await send(w.as(ro).market.dispute(sid(label)));
    return locked;
  }

  it('lets the arbiter split a disputed escrow: the award minus the fee to the radiologist, the rest back to the RO', async () => {
    await send(w.c.market.setArbiter(stranger.address));
    expect(await w.c.market.arbiter()).toBe(stranger.address);
    const locked = await disputed('split');
    const [roBefore, radBefore, treasuryBefore] = await Promise.all([ro, rad, w.treasury].map((a) => w.c.market.balanceOf(a.address)));
    const award = locked / 2n;
    const r = await send(w.as(stranger).market.resolveDispute(sid('split'), award));
    const ev = eventsOf(w.c, r, 'DisputeResolved')[0].args;
    const fee = (award * 500n) / 10000n;
    expect([ev.payout, ev.fee, ev.refund, ev.resolver]).toEqual([award - fee, fee, 100n * USD - award, stranger.address]);
    expect(await w.c.market.balanceOf(rad.address)).toBe(radBefore + award - fee);
    expect(await w.c.market.balanceOf(w.treasury.address)).toBe(treasuryBefore + fee);
    expect(await w.c.market.balanceOf(ro.address)).toBe(roBefore + 100n * USD - award);
    expect((await w.c.market.getStudy(sid('split'))).status).toBe(Status.Settled);
    // paid once: neither a second resolution nor a settlement can touch it again
    await expectError(w.as(stranger).market.resolveDispute(sid('split'), 0n), 'InvalidStatus', [sid('split'), Status.Settled]);
    await increaseTime(w.provider, 2 * DAY);
    await expectError(w.c.market.settle(sid('split')), 'InvalidStatus', [sid('split'), Status.Settled]);
    await assertConserved(w, accounts(), [sid('split')]);
  });

  it('lets the owner (the DAO timelock after hand-over) refund a disputed study in full', async () => {
    await disputed('refund');
    const roBefore = await w.c.market.balanceOf(ro.address);
    const r = await send(w.c.market.resolveDispute(sid('refund'), 0n));
    const ev = eventsOf(w.c, r, 'DisputeResolved')[0].args;
    expect([ev.payout, ev.fee, ev.refund, ev.resolver]).toEqual([0n, 0n, 100n * USD, w.owner.address]);
    expect(await w.c.market.balanceOf(ro.address)).toBe(roBefore + 100n * USD);
    await assertConserved(w, accounts(), [sid('refund')]);
  });

  it('refuses resolution by anyone else, of studies that are not disputed, and awards above the locked bounty', async () => {
    const locked = await disputed('refused');
    await expectError(w.as(ro).market.resolveDispute(sid('refused'), 0n), 'NotArbiter', [ro.address]);
    await expectError(w.as(rad).market.resolveDispute(sid('refused'), locked), 'NotArbiter', [rad.address]);
    await expectError(w.c.market.resolveDispute(sid('refused'), locked + 1n), 'AwardExceedsLockedBounty', [locked + 1n, locked]);
    await expectError(w.c.market.resolveDispute(sid('nothing'), 0n), 'StudyNotFound', [sid('nothing')]);
    await post(ro, 'open');
    await expectError(w.c.market.resolveDispute(sid('open'), 0n), 'InvalidStatus', [sid('open'), Status.Open]);
    await expectError(w.as(stranger).market.setArbiter(stranger.address), 'OwnableUnauthorizedAccount', [stranger.address]);
    // removing the arbiter takes the power away again
    await send(w.c.market.setArbiter(stranger.address));
    await send(w.c.market.setArbiter(ZeroAddress));
    await expectError(w.as(stranger).market.resolveDispute(sid('refused'), 0n), 'NotArbiter', [stranger.address]);
  });
});

describe('study-ID issuance (no self-chosen IDs: the ID is the one free-form field a poster controls)', () => {
  const id = sid('issued');
  const fund = async (from: HDNodeWallet) => send(w.as(from).market.deposit(10n * USD));
  const postWith = (from: HDNodeWallet, studyId: string, args: [bigint, string]) =>
    w.as(from).market.postStudy(studyId, CT, 15000, URGENT, CA, USD, ...args);

  it('posts an ID the issuer signed for the caller, and exposes the issuer', async () => {
    expect(await w.c.market.studyIdIssuer()).toBe(w.issuer.address);
    await fund(ro);
    const r = await send(postWith(ro, id, issued(ro, id)));
    expect(eventsOf(w.c, r, 'StudyPosted')[0].args.studyId).toBe(id);
  });

  it('refuses a self-chosen ID (no or a garbage signature), an ID issued to another RO, and one signed by another key', async () => {
    await fund(ro);
    const far = BigInt(Math.floor(Date.now() / 1000) + 3600);
    await expectError(postWith(ro, id, [far, '0x']), 'StudyIdNotIssued', [id]);
    await expectError(postWith(ro, id, [far, '0x' + '11'.repeat(65)]), 'StudyIdNotIssued', [id]);
    await expectError(postWith(ro, id, issued(ro2, id)), 'StudyIdNotIssued', [id]);
    const other = issueStudyId(stranger.privateKey, w.deployment.market, w.deployment.chainId, ro.address, id, far);
    await expectError(postWith(ro, id, issuanceArgs(other)), 'StudyIdNotIssued', [id]);
    // signed for another ID, or with issuedUntil changed after signing
    await expectError(postWith(ro, id, issued(ro, sid('another'))), 'StudyIdNotIssued', [id]);
    const [until, sig] = issued(ro, id, far);
    await expectError(postWith(ro, id, [until + 1n, sig]), 'StudyIdNotIssued', [id]);
    // for another market (same chain, other verifying contract)
    const foreign = issueStudyId(w.issuer.privateKey, w.deployment.token, w.deployment.chainId, ro.address, id, far);
    await expectError(postWith(ro, id, issuanceArgs(foreign)), 'StudyIdNotIssued', [id]);
    expect((await w.c.market.getStudy(id)).status).toBe(Status.None);
  });

  it("refuses a replay of an RO's issuance by another RO (e.g. copied from the mempool)", async () => {
    await fund(ro2);
    const ros = issued(ro, id);
    await expectError(postWith(ro2, id, ros), 'StudyIdNotIssued', [id]);
    await fund(ro);
    await send(postWith(ro, id, ros));
    expect((await w.c.market.getStudy(id)).ro).toBe(ro.address);
    await expectError(postWith(ro, id, ros), 'StudyAlreadyExists', [id]);
  });

  it('refuses an expired issuance (accepted up to and including issuedUntil)', async () => {
    await fund(ro);
    const now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    await expectError(postWith(ro, id, issued(ro, id, now - 1n)), 'StudyIdIssuanceExpired', [id, now - 1n]);
    const until = now + 100n;
    const args = issued(ro, id, until);
    await increaseTime(w.provider, 101);
    await expectError(postWith(ro, id, args), 'StudyIdIssuanceExpired', [id, until]);
    const now2 = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    await w.provider.send('evm_setNextBlockTimestamp', [Number(now2 + 5n)]);
    await send(postWith(ro, id, issued(ro, id, now2 + 5n)));
  });

  it('lets only the owner change the issuer, never to zero; issuances of the old issuer are refused afterwards', async () => {
    await fund(ro);
    const old = issued(ro, id);
    const next = w.wallets[8];
    await expectError(w.as(stranger).market.setStudyIdIssuer(stranger.address), 'OwnableUnauthorizedAccount', [stranger.address]);
    await expectError(w.c.market.setStudyIdIssuer(ZeroAddress), 'ZeroAddress');
    const r = await send(w.c.market.setStudyIdIssuer(next.address));
    const ev = eventsOf(w.c, r, 'StudyIdIssuerChanged')[0].args;
    expect([ev.previous, ev.current]).toEqual([w.issuer.address, next.address]);
    expect(await w.c.market.studyIdIssuer()).toBe(next.address);
    await expectError(postWith(ro, id, old), 'StudyIdNotIssued', [id]);
    const fresh = issueStudyId(
      next.privateKey,
      w.deployment.market,
      w.deployment.chainId,
      ro.address,
      id,
      BigInt(Math.floor(Date.now() / 1000) + 3600),
    );
    await send(postWith(ro, id, issuanceArgs(fresh)));
  });
});

describe('error coverage', () => {
  // Inherited errors that cannot be reached with these contracts and a standard token.
  const UNREACHABLE: Record<string, string> = {
    ReentrancyGuardReentrantCall: 'needs a token that calls back into the market',
    SafeERC20FailedOperation: 'needs a token that returns false',
    ERC20InvalidSender: 'msg.sender is never the zero address',
    ERC20InvalidApprover: 'msg.sender / permit signer is never the zero address',
    ECDSAInvalidSignatureLength: 'permit takes (v, r, s), never a byte string',
    InvalidAccountNonce: 'ERC20Permit uses unchecked nonces',
    InvalidShortString: 'only from ShortStrings with constant names',
    StringTooLong: 'only from ShortStrings with constant names',
  };

  it('has triggered every custom error of the four contracts at least once', () => {
    const all = new Set<string>();
    for (const n of ['TestUSD', 'IncentiveParameters', 'CredentialRegistry', 'StudyMarket']) {
      for (const f of loadArtifact(n).abi as { type: string; name: string }[]) if (f.type === 'error') all.add(f.name);
    }
    const missing = [...all].filter((e) => !seenErrors.has(e) && !(e in UNREACHABLE)).sort();
    expect(missing).toEqual([]);
  });
});
