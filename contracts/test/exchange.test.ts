/**
 * The imaging exchange: RoDirectory (admission, accounts, keys), StudyCustody (custody, leases, fees, expired use,
 * misuse, the patient's revocation). Every custom error the two contracts declare is reached; the happy paths check
 * exact balances; a seeded random run of requests, grants, denials, cancellations, renewals, deposits, withdrawals,
 * waits and patients' revocations checks after every step that token.balanceOf(custody) == sum of balances + escrow
 * of requested leases + storage share held, and that each fee is paid out once per grant or renewal (FUZZ_STEPS /
 * FUZZ_SEED as in escrow.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Contract,
  MaxUint256,
  Wallet,
  ZeroAddress,
  ZeroHash,
  id as keccakId,
  parseEther,
  type HDNodeWallet,
  type TransactionReceipt,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeThrownError, mined, issuanceArgs, issueStudyId, loadArtifact } from '#chain';
import { increaseTime } from '#devchain';
import {
  ALL_MODALITIES,
  ALL_STATES,
  Status,
  USD,
  blockTimestamp,
  expectError,
  prng,
  seenErrors,
  send,
  startWorld,
  type World,
} from './fixture.js';
import { eoaSigner, linkPatient, signRevocation, type PatientLink } from './patients-support.js';

const ADMISSION_ROLE = keccakId('ADMISSION_ROLE');
const FEE = 10n * USD; // the constructor's default retrieval fee
const HOUR = 3600;
const Lease = { None: 0n, Requested: 1n, Granted: 2n, Denied: 3n, Cancelled: 4n } as const;
const encKey = (label: string) => keccakId(`x25519:${label}`);
const hash = (label: string) => keccakId(label);

let w: World;
let directory: Contract;
let custody: Contract;
let links: Contract;
let admitter: HDNodeWallet, oRo: HDNodeWallet, nRo: HDNodeWallet, thirdRo: HDNodeWallet;
let oAgent: HDNodeWallet, nAgent: HDNodeWallet, outsider: HDNodeWallet;
let studyCounter = 0;

const dir = (s: HDNodeWallet) => directory.connect(s) as Contract;
const cus = (s: HDNodeWallet) => custody.connect(s) as Contract;
const logsOf = (c: Contract, r: TransactionReceipt) =>
  r.logs
    .filter((l) => l.address.toLowerCase() === String(c.target).toLowerCase())
    .map((l) => c.interface.parseLog(l)!)
    .map((p) => ({ name: p.name, args: p.args }));

/** Registers a fresh study in custody of `ro` (acting through `as`) and returns its ID. */
async function registerStudy(as: HDNodeWallet): Promise<string> {
  const studyId = keccakId(`exchange-study-${++studyCounter}`);
  await send(cus(as).registerStudy(studyId, hash(`manifest-${studyCounter}`), ...issuanceArgs(w.issue(as.address, studyId))));
  return studyId;
}

async function fund(ro: HDNodeWallet, amount: bigint) {
  await send(w.c.token.mint(ro.address, amount));
  await send(w.as(ro).token.approve(custody.target, MaxUint256));
  await send(cus(ro).deposit(amount));
}

async function requestLease(as: HDNodeWallet, studyId: string, keyId: bigint, period = HOUR, maxRenewals = 2): Promise<bigint> {
  const r = await send(cus(as).requestLease(studyId, period, keyId, maxRenewals));
  return logsOf(custody, r).find((e) => e.name === 'LeaseRequested')!.args.leaseId as bigint;
}

let oKey: bigint, nKey: bigint;

beforeAll(async () => {
  w = await startWorld();
  directory = new Contract(w.deployment.roDirectory, loadArtifact('RoDirectory').abi, w.owner);
  custody = new Contract(w.deployment.studyCustody, loadArtifact('StudyCustody').abi, w.owner);
  links = new Contract(w.deployment.patientLinks, loadArtifact('PatientLinks').abi, w.owner);
  [, admitter, oRo, nRo, thirdRo, oAgent, nAgent, outsider] = w.wallets;
  await send(directory.grantRole(ADMISSION_ROLE, admitter.address));
});
afterAll(async () => {
  await w?.anvil.stop();
});

describe('RoDirectory', () => {
  it('admits ROs only through the admission role, with a first key', async () => {
    await expectError(dir(oRo).admitRo(oRo.address, encKey('o1'), oRo.address), 'AccessControlUnauthorizedAccount', [
      oRo.address,
      ADMISSION_ROLE,
    ]);
    await expectError(dir(admitter).admitRo(ZeroAddress, encKey('z'), oRo.address), 'AccountUnavailable', [ZeroAddress]);
    await expectError(dir(admitter).admitRo(oRo.address, ZeroHash, oRo.address), 'InvalidKey');
    await expectError(dir(admitter).admitRo(oRo.address, encKey('o1'), ZeroAddress), 'InvalidKey');
    const r = await send(dir(admitter).admitRo(oRo.address, encKey('o1'), oRo.address));
    expect(logsOf(directory, r).map((e) => e.name)).toEqual(['RoAdmitted', 'RoAccountAdded', 'RoKeyAdded']);
    oKey = logsOf(directory, r)[2].args.keyId as bigint;
    expect(oKey).toBe(1n);
    await expectError(dir(admitter).admitRo(oRo.address, encKey('o1'), oRo.address), 'AccountUnavailable', [oRo.address]);
    nKey = logsOf(directory, await send(dir(admitter).admitRo(nRo.address, encKey('n1'), nRo.address)))[2].args.keyId as bigint;
    await send(dir(admitter).admitRo(thirdRo.address, encKey('t1'), thirdRo.address));
    expect(await directory.roOf(oRo.address)).toBe(oRo.address);
    expect(await directory.isActive(nRo.address)).toBe(true);
    expect(await directory.isLiveKeyOf(nKey, nRo.address)).toBe(true);
    expect(await directory.isLiveKeyOf(nKey, oRo.address)).toBe(false);
  });

  it('lets an RO add and remove its accounts; an account never moves to another RO', async () => {
    await expectError(dir(outsider).addAccount(outsider.address), 'NotActiveRo', [outsider.address]);
    await send(dir(oRo).addAccount(oAgent.address));
    await send(dir(nRo).addAccount(nAgent.address));
    expect(await directory.roOf(oAgent.address)).toBe(oRo.address);
    await expectError(dir(nRo).addAccount(oAgent.address), 'AccountUnavailable', [oAgent.address]);
    await expectError(dir(oRo).removeAccount(oRo.address), 'NotRoAccount', [oRo.address]);
    await expectError(dir(oRo).removeAccount(nAgent.address), 'NotRoAccount', [nAgent.address]);
    const spare = w.wallets[8];
    await send(dir(oRo).addAccount(spare.address));
    const r = await send(dir(oRo).removeAccount(spare.address));
    expect(logsOf(directory, r).map((e) => e.name)).toEqual(['RoAccountRemoved']);
    expect(await directory.roOf(spare.address)).toBe(ZeroAddress);
    await expectError(dir(nRo).addAccount(spare.address), 'AccountUnavailable', [spare.address]);
  });

  it('adds, rotates and revokes keys, at most MAX_LIVE_KEYS live at once', async () => {
    const max = Number(await directory.MAX_LIVE_KEYS());
    const added: bigint[] = [];
    for (let i = 1; i < max; i++)
      added.push(logsOf(directory, await send(dir(thirdRo).addKey(encKey(`t-${i}`), thirdRo.address)))[0].args.keyId as bigint);
    await expectError(dir(thirdRo).addKey(encKey('one-too-many'), thirdRo.address), 'TooManyKeys');
    const r = await send(dir(thirdRo).rotateKey(added[0], encKey('t-rotated'), outsider.address));
    const events = logsOf(directory, r);
    expect(events.map((e) => e.name)).toEqual(['RoKeyRevoked', 'RoKeyAdded', 'RoKeyRotated']);
    const rotated = events[1].args.keyId as bigint;
    expect(events[2].args.toArray()).toEqual([thirdRo.address, added[0], rotated]);
    expect(await directory.keyOf(rotated)).toEqual([thirdRo.address, false, outsider.address, encKey('t-rotated')]);
    await expectError(dir(thirdRo).revokeKey(added[0]), 'KeyNotLive', [added[0]]);
    await expectError(dir(thirdRo).revokeKey(oKey), 'KeyNotLive', [oKey]);
    await expectError(dir(thirdRo).rotateKey(9999n, encKey('x'), thirdRo.address), 'KeyNotLive', [9999n]);
    for (const k of added.slice(1)) await send(dir(thirdRo).revokeKey(k));
    expect((await directory.roInfo(thirdRo.address)).liveKeys).toBe(2n);
  });

  it('suspends and reinstates through the admission role', async () => {
    await expectError(dir(admitter).setSuspended(outsider.address, true), 'RoNotAdmitted', [outsider.address]);
    await expectError(dir(admitter).setSuspended(thirdRo.address, false), 'SuspensionUnchanged', [thirdRo.address, false]);
    await send(dir(admitter).setSuspended(thirdRo.address, true));
    expect(await directory.isActive(thirdRo.address)).toBe(false);
    expect(await directory.activeRoOf(thirdRo.address)).toBe(ZeroAddress);
    await expectError(dir(thirdRo).addKey(encKey('while-suspended'), thirdRo.address), 'NotActiveRo', [thirdRo.address]);
    await send(dir(admitter).setSuspended(thirdRo.address, false));
    expect(await directory.isActive(thirdRo.address)).toBe(true);
  });
});

describe('StudyCustody: custody', () => {
  it("registers a study with the market's issuance, once, by an active RO's account", async () => {
    const studyId = keccakId('custody-1');
    const i = w.issue(oAgent.address, studyId);
    await expectError(
      cus(outsider).registerStudy(studyId, hash('m'), ...issuanceArgs(w.issue(outsider.address, studyId))),
      'NotActiveRoAccount',
      [outsider.address],
    );
    // issued to another account, or by another key, or expired, or zero
    await expectError(cus(oAgent).registerStudy(studyId, hash('m'), ...issuanceArgs(w.issue(oRo.address, studyId))), 'StudyIdNotIssued', [
      studyId,
    ]);
    const foreign = issueStudyId(
      w.wallets[9].privateKey,
      w.deployment.market,
      w.deployment.chainId,
      oAgent.address,
      studyId,
      i.issuedUntil,
    );
    await expectError(cus(oAgent).registerStudy(studyId, hash('m'), ...issuanceArgs(foreign)), 'StudyIdNotIssued', [studyId]);
    await expectError(
      cus(oAgent).registerStudy(ZeroHash, hash('m'), ...issuanceArgs(w.issue(oAgent.address, ZeroHash))),
      'StudyIdNotIssued',
      [ZeroHash],
    );
    await expectError(
      cus(oAgent).registerStudy(studyId, hash('m'), ...issuanceArgs(w.issue(oAgent.address, studyId, 1n))),
      'StudyIdIssuanceExpired',
      [studyId, 1n],
    );
    await expectError(cus(oAgent).registerStudy(studyId, ZeroHash, ...issuanceArgs(i)), 'InvalidManifestHash');
    const r = await send(cus(oAgent).registerStudy(studyId, hash('m'), ...issuanceArgs(i)));
    expect(logsOf(custody, r).map((e) => [e.name, ...e.args.toArray()])).toEqual([['StudyRegistered', studyId, oRo.address, hash('m')]]);
    const c = await custody.custodyOf(studyId);
    expect([c.ro, c.manifestHash]).toEqual([oRo.address, hash('m')]);
    await expectError(
      cus(oRo).registerStudy(studyId, hash('m'), ...issuanceArgs(w.issue(oRo.address, studyId))),
      'StudyAlreadyRegistered',
      [studyId],
    );
  });

  it('refuses an ID another RO posted on the market, and accepts one the same RO posted', async () => {
    const poster = w.wallets[8]; // not an RO account here; it posts on the market
    await send(w.c.token.mint(poster.address, 100n * USD));
    await send(w.as(poster).token.approve(w.deployment.market, MaxUint256));
    await send(w.as(poster).market.deposit(100n * USD));
    const posted = keccakId('posted-elsewhere');
    await send(w.as(poster).market.postStudy(posted, 0, 10000, 0, 4, 50n * USD, ...issuanceArgs(w.issue(poster.address, posted))));
    await expectError(cus(oRo).registerStudy(posted, hash('m'), ...issuanceArgs(w.issue(oRo.address, posted))), 'StudyAlreadyRegistered', [
      posted,
    ]);

    await send(w.c.token.mint(oRo.address, 100n * USD));
    await send(w.as(oRo).token.approve(w.deployment.market, MaxUint256));
    await send(w.as(oRo).market.deposit(100n * USD));
    const own = keccakId('posted-by-oro');
    await send(w.as(oRo).market.postStudy(own, 0, 10000, 0, 4, 50n * USD, ...issuanceArgs(w.issue(oRo.address, own))));
    // the agent registers it: same RO, its own issuance
    await send(cus(oAgent).registerStudy(own, hash('own'), ...issuanceArgs(w.issue(oAgent.address, own))));
    expect((await custody.custodyOf(own)).ro).toBe(oRo.address);
  });

  it('transfers custody by the custodian to another active RO', async () => {
    const studyId = await registerStudy(thirdRo);
    await expectError(cus(oRo).transferCustody(studyId, nRo.address), 'NotCustodian', [studyId, oRo.address]);
    await expectError(cus(thirdRo).transferCustody(keccakId('nope'), nRo.address), 'StudyNotRegistered', [keccakId('nope')]);
    await expectError(cus(thirdRo).transferCustody(studyId, thirdRo.address), 'InvalidCustodian', [thirdRo.address]);
    await expectError(cus(thirdRo).transferCustody(studyId, outsider.address), 'InvalidCustodian', [outsider.address]);
    const r = await send(cus(thirdRo).transferCustody(studyId, oRo.address));
    expect(logsOf(custody, r).map((e) => [e.name, ...e.args.toArray()])).toEqual([
      ['CustodyTransferred', studyId, thirdRo.address, oRo.address, thirdRo.address],
    ]);
    expect((await custody.custodyOf(studyId)).ro).toBe(oRo.address);
  });
});

describe('StudyCustody: leases', () => {
  it('grants with the fee split exactly: custodian, treasury, storage share', async () => {
    await expectError(cus(nRo).deposit(0), 'ZeroAmount');
    await fund(nRo, 100n * USD);
    const studyId = await registerStudy(oRo);
    const [treasury0, o0, storage0] = await Promise.all([
      custody.balanceOf(w.treasury.address),
      custody.balanceOf(oRo.address),
      custody.storageHeld(),
    ]);
    const leaseId = await requestLease(nAgent, studyId, nKey);
    expect(await custody.balanceOf(nRo.address)).toBe(90n * USD);
    const l = await custody.leaseOf(leaseId);
    expect([l.studyId, l.requester, l.status, l.fee, l.keyId, l.period]).toEqual([
      studyId,
      nRo.address,
      Lease.Requested,
      FEE,
      nKey,
      BigInt(HOUR),
    ]);
    expect(await custody.isLeaseValid(leaseId)).toBe(false);

    await expectError(cus(nRo).grantLease(leaseId, hash('wk'), hash('ct')), 'NotCustodian', [studyId, nRo.address]);
    await expectError(cus(oAgent).grantLease(leaseId, ZeroHash, hash('ct')), 'InvalidGrantHashes');
    await expectError(cus(oAgent).grantLease(999n, hash('wk'), hash('ct')), 'LeaseNotFound', [999n]);
    const r = await send(cus(oAgent).grantLease(leaseId, hash('wk'), hash('ct')));
    const at = await blockTimestamp(w.provider, r.blockNumber);
    const events = logsOf(custody, r);
    expect(events.map((e) => [e.name, ...e.args.toArray()])).toEqual([
      ['LeaseGranted', leaseId, studyId, oRo.address, at + BigInt(HOUR), hash('wk'), hash('ct')],
      ['LeaseFeePaid', leaseId, oRo.address, 8n * USD, 1n * USD, 1n * USD, w.treasury.address],
    ]);
    expect(await custody.balanceOf(w.treasury.address)).toBe(treasury0 + 1n * USD);
    expect(await custody.balanceOf(oRo.address)).toBe(o0 + 8n * USD);
    expect(await custody.storageHeld()).toBe(storage0 + 1n * USD);
    expect(await custody.isLeaseValid(leaseId)).toBe(true);
    await expectError(cus(oAgent).grantLease(leaseId, hash('wk'), hash('ct')), 'InvalidLeaseStatus', [leaseId, Lease.Granted]);
    await expectError(cus(oAgent).denyLease(leaseId), 'InvalidLeaseStatus', [leaseId, Lease.Granted]);

    // the custodian withdraws its fee
    const before = (await w.c.token.balanceOf(oRo.address)) as bigint;
    await expectError(cus(oRo).withdraw(0), 'ZeroAmount');
    await expectError(cus(oRo).withdraw(o0 + 8n * USD + 1n), 'InsufficientBalance', [o0 + 8n * USD, o0 + 8n * USD + 1n]);
    await send(cus(oRo).withdraw(8n * USD));
    expect(await w.c.token.balanceOf(oRo.address)).toBe(before + 8n * USD);
  });

  it('refuses bad requests', async () => {
    const studyId = await registerStudy(oRo);
    await expectError(cus(outsider).requestLease(studyId, HOUR, nKey, 0), 'NotActiveRoAccount', [outsider.address]);
    await expectError(cus(nRo).requestLease(keccakId('unknown'), HOUR, nKey, 0), 'StudyNotRegistered', [keccakId('unknown')]);
    await expectError(cus(oAgent).requestLease(studyId, HOUR, oKey, 0), 'OwnStudy', [studyId]);
    await expectError(cus(nRo).requestLease(studyId, HOUR, oKey, 0), 'KeyNotLive', [oKey]);
    await expectError(cus(nRo).requestLease(studyId, 60, nKey, 0), 'InvalidPeriod', [60n]);
    await expectError(cus(nRo).requestLease(studyId, 366 * 86400, nKey, 0), 'InvalidPeriod', [366n * 86400n]);
    await expectError(cus(nRo).requestLease(studyId, HOUR, nKey, 13), 'TooManyRenewals', [13n]);
    const thirdKey = 3n; // admitted third, after oRo (1) and nRo (2)
    expect((await directory.keyOf(thirdKey)).ro).toBe(thirdRo.address);
    await expectError(cus(thirdRo).requestLease(studyId, HOUR, thirdKey, 0), 'InsufficientBalance', [0n, FEE]);
  });

  it('denies with a full refund; a request nobody answers is cancelled by the requester after the timeout', async () => {
    const studyId = await registerStudy(oRo);
    const b0 = (await custody.balanceOf(nRo.address)) as bigint;
    const denied = await requestLease(nRo, studyId, nKey);
    await expectError(cus(nRo).denyLease(denied), 'NotCustodian', [studyId, nRo.address]);
    const r = await send(cus(oRo).denyLease(denied));
    expect(logsOf(custody, r).map((e) => [e.name, ...e.args.toArray()])).toEqual([['LeaseDenied', denied, studyId, oRo.address, FEE]]);
    expect(await custody.balanceOf(nRo.address)).toBe(b0);
    await expectError(cus(oRo).grantLease(denied, hash('wk'), hash('ct')), 'InvalidLeaseStatus', [denied, Lease.Denied]);

    const pending = await requestLease(nAgent, studyId, nKey);
    const requestedAt = (await custody.leaseOf(pending)).requestedAt as bigint;
    const timeout = BigInt(await custody.REQUEST_TIMEOUT());
    await expectError(cus(nRo).cancelLeaseRequest(pending), 'RequestNotTimedOut', [pending, requestedAt + timeout]);
    await increaseTime(w.provider, timeout + 1n);
    await expectError(cus(oRo).cancelLeaseRequest(pending), 'NotRequester', [pending, oRo.address]);
    const c = await send(cus(nAgent).cancelLeaseRequest(pending));
    expect(logsOf(custody, c).map((e) => [e.name, ...e.args.toArray()])).toEqual([['LeaseRequestCancelled', pending, nRo.address, FEE]]);
    expect(await custody.balanceOf(nRo.address)).toBe(b0);
  });

  it('refuses a grant to a key revoked since the request', async () => {
    const studyId = await registerStudy(oRo);
    const spareKey = logsOf(directory, await send(dir(nRo).addKey(encKey('n-spare'), nRo.address)))[0].args.keyId as bigint;
    const leaseId = await requestLease(nRo, studyId, spareKey);
    await send(dir(nRo).revokeKey(spareKey));
    await expectError(cus(oRo).grantLease(leaseId, hash('wk'), hash('ct')), 'KeyNotLive', [spareKey]);
    await send(cus(oRo).denyLease(leaseId));
  });

  it('renews as often as the requester allowed, records expired use, counts misuse and flags at the threshold', async () => {
    const studyId = await registerStudy(oRo);
    const leaseId = await requestLease(nAgent, studyId, nKey, HOUR, 1);
    const g = await send(cus(oAgent).grantLease(leaseId, hash('wk2'), hash('ct2')));
    const expiresAt = (await blockTimestamp(w.provider, g.blockNumber)) + BigInt(HOUR);
    await expectError(cus(oAgent).recordExpiredUse(leaseId, nAgent.address), 'LeaseStillValid', [leaseId, expiresAt]);
    await expectError(cus(nRo).renewLease(leaseId), 'NotCustodian', [studyId, nRo.address]);
    await expectError(cus(oRo).renewLease(12345n), 'LeaseNotFound', [12345n]);

    const [n0, o0, t0, s0] = await Promise.all([
      custody.balanceOf(nRo.address),
      custody.balanceOf(oRo.address),
      custody.balanceOf(w.treasury.address),
      custody.storageHeld(),
    ] as Promise<bigint>[]);
    const r = await send(cus(oRo).renewLease(leaseId)); // before expiry: extends from the old expiry
    expect(logsOf(custody, r).map((e) => [e.name, ...e.args.toArray()])).toEqual([
      ['LeaseRenewed', leaseId, oRo.address, expiresAt + BigInt(HOUR), 0n],
      ['LeaseFeePaid', leaseId, oRo.address, 8n * USD, 1n * USD, 1n * USD, w.treasury.address],
    ]);
    expect(await custody.balanceOf(nRo.address)).toBe(n0 - FEE);
    expect(await custody.balanceOf(oRo.address)).toBe(o0 + 8n * USD);
    expect(await custody.balanceOf(w.treasury.address)).toBe(t0 + 1n * USD);
    expect(await custody.storageHeld()).toBe(s0 + 1n * USD);
    await expectError(cus(oRo).renewLease(leaseId), 'NoRenewalsLeft', [leaseId]);

    await increaseTime(w.provider, 2 * HOUR + 10);
    expect(await custody.isLeaseValid(leaseId)).toBe(false);
    await expectError(cus(oAgent).recordExpiredUse(leaseId, outsider.address), 'NotLessee', [leaseId, outsider.address]);
    await expectError(cus(nRo).recordExpiredUse(leaseId, nAgent.address), 'NotCustodian', [studyId, nRo.address]);
    const e = await send(cus(oAgent).recordExpiredUse(leaseId, nAgent.address));
    expect(logsOf(custody, e).map((x) => [x.name, ...x.args.toArray()])).toEqual([
      ['ExpiredUseRecorded', leaseId, nAgent.address, oAgent.address],
    ]);
    const pending = await requestLease(nRo, studyId, nKey);
    await expectError(cus(oAgent).recordExpiredUse(pending, nAgent.address), 'InvalidLeaseStatus', [pending, Lease.Requested]);
    await expectError(cus(oAgent).recordExpiredUse(777n, nAgent.address), 'LeaseNotFound', [777n]);
    await send(cus(oRo).denyLease(pending));

    // misuse: once per lease; the DAO's threshold (set to 2 here) flags the account
    await expectError(cus(oRo).setMisuseThreshold(2), 'OwnableUnauthorizedAccount', [oRo.address]);
    await expectError(custody.setMisuseThreshold(0), 'ParameterOutOfBounds', [0n]);
    await expectError(custody.setMisuseThreshold(101), 'ParameterOutOfBounds', [101n]);
    await send(custody.setMisuseThreshold(2));
    await expectError(cus(oAgent).reportMisuse(leaseId, outsider.address), 'NotLessee', [leaseId, outsider.address]);
    const m1 = await send(cus(oAgent).reportMisuse(leaseId, nAgent.address));
    expect(logsOf(custody, m1).map((x) => [x.name, ...x.args.toArray()])).toEqual([
      ['MisuseReported', leaseId, nAgent.address, oAgent.address, 1n],
    ]);
    await expectError(cus(oRo).reportMisuse(leaseId, nAgent.address), 'MisuseAlreadyReported', [leaseId]);
    expect(await custody.misuseOf(nAgent.address)).toEqual([1n, false]);
    await expectError(custody.clearFlag(nAgent.address), 'AccountNotFlagged', [nAgent.address]);

    const second = await requestLease(nRo, studyId, nKey, 300, 0);
    await send(cus(oRo).grantLease(second, hash('wk3'), hash('ct3')));
    await increaseTime(w.provider, 400);
    const m2 = await send(cus(oRo).reportMisuse(second, nAgent.address));
    expect(logsOf(custody, m2).map((x) => [x.name, ...x.args.toArray()])).toEqual([
      ['MisuseReported', second, nAgent.address, oRo.address, 2n],
      ['AccountFlagged', nAgent.address, 2n],
    ]);
    expect(await custody.misuseOf(nAgent.address)).toEqual([2n, true]);
    await send(custody.clearFlag(nAgent.address));
    expect(await custody.misuseOf(nAgent.address)).toEqual([2n, false]);
  });

  it('bounds the fees and shares; only the owner sets them and the treasury', async () => {
    const max = (await custody.MAX_RETRIEVAL_FEE()) as bigint;
    await expectError(cus(oRo).setFees(FEE, 1000, 1000), 'OwnableUnauthorizedAccount', [oRo.address]);
    await expectError(custody.setFees(max + 1n, 1000, 1000), 'ParameterOutOfBounds', [max + 1n]);
    await expectError(custody.setFees(FEE, 2001, 1000), 'ParameterOutOfBounds', [2001n]);
    await expectError(custody.setFees(FEE, 1000, 3001), 'ParameterOutOfBounds', [3001n]);
    await send(custody.setFees(max, 2000, 3000));
    expect(await custody.fees()).toEqual([max, 2000n, 3000n]);
    await send(custody.setFees(FEE, 1000, 1000));
    await expectError(custody.setTreasury(ZeroAddress), 'ZeroAddress');
    await send(custody.setTreasury(w.treasury.address));
  });

  it('ends custody when the linked patient revokes it: leases end, requests are refused, an in-flight market claim finishes', async () => {
    const far = BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * 86400);
    const patient = Wallet.createRandom();
    const studyId = keccakId('revoked-study');
    await send(cus(oRo).registerStudy(studyId, hash('m-revoked'), ...issuanceArgs(w.issue(oRo.address, studyId))));
    const link: PatientLink = await linkPatient(links, oAgent, outsider, patient, studyId, w.deployment.chainId, far);
    expect(await custody.patientLinks()).toBe(w.deployment.patientLinks);

    // a granted lease, a pending request, and a radiologist's claim of the same ID on the market
    await fund(nRo, 100n * USD);
    const granted = await requestLease(nRo, studyId, nKey, HOUR, 3);
    await send(cus(oRo).grantLease(granted, hash('wk-r'), hash('ct-r')));
    const pending = await requestLease(nRo, studyId, nKey);
    const rad = Wallet.createRandom().connect(w.provider);
    await mined(w.owner.sendTransaction({ to: rad.address, value: parseEther('1') }));
    await send(w.as(w.verifier).registry.attest(rad.address, ALL_STATES, ALL_MODALITIES, far));
    await send(w.c.token.mint(oRo.address, 100n * USD));
    await send(w.as(oRo).token.approve(w.deployment.market, MaxUint256));
    await send(w.as(oRo).market.deposit(100n * USD));
    await send(w.as(oRo).market.postStudy(studyId, 1, 15000, 0, 4, 100n * USD, ...issuanceArgs(w.issue(oRo.address, studyId))));
    await send(w.as(rad).market.claim(studyId));
    expect(await custody.isLeaseValid(granted)).toBe(true);

    // only PatientLinks revokes, after checking the patient's proof; a relayer submits the patient's signature
    await expectError(cus(oRo).revokeCustody(studyId), 'NotPatientLinks', [oRo.address]);
    const sig = await signRevocation(links, eoaSigner(link.key), studyId, link.commitment, far);
    const r = await send((links.connect(outsider) as Contract).revoke(studyId, link.account, link.salt, far, sig));
    const at = await blockTimestamp(w.provider, r.blockNumber);
    expect(logsOf(custody, r).map((x) => [x.name, ...x.args.toArray()])).toEqual([['CustodyRevoked', studyId, oRo.address]]);
    expect(logsOf(links, r).map((x) => [x.name, ...x.args.toArray()])).toEqual([['LinkRevoked', studyId, link.commitment]]);
    expect(await custody.revokedAt(studyId)).toBe(at);

    // open leases end; nothing new starts; the record stays so the ID is never registered again
    expect(await custody.isLeaseValid(granted)).toBe(false);
    await expectError(cus(nRo).requestLease(studyId, HOUR, nKey, 0), 'RevokedByPatient', [studyId, at]);
    await expectError(cus(oRo).grantLease(pending, hash('wk'), hash('ct')), 'RevokedByPatient', [studyId, at]);
    await expectError(cus(oRo).renewLease(granted), 'RevokedByPatient', [studyId, at]);
    await expectError(cus(oRo).transferCustody(studyId, thirdRo.address), 'RevokedByPatient', [studyId, at]);
    await expectError(
      cus(oRo).registerStudy(studyId, hash('again'), ...issuanceArgs(w.issue(oRo.address, studyId))),
      'StudyAlreadyRegistered',
      [studyId],
    );
    expect((await custody.custodyOf(studyId)).ro).toBe(oRo.address);
    // the pending request is refunded at once (no timeout to wait for: it can never be granted)
    const before = (await custody.balanceOf(nRo.address)) as bigint;
    await send(cus(nAgent).cancelLeaseRequest(pending));
    expect(await custody.balanceOf(nRo.address)).toBe(before + FEE);
    // use of the ended lease is recorded as after an expiry
    const e = await send(cus(oAgent).recordExpiredUse(granted, nAgent.address));
    expect(logsOf(custody, e).map((x) => x.name)).toEqual(['ExpiredUseRecorded']);

    // the in-flight market read finishes: the radiologist already holds the data and is paid for the report
    await send(w.as(rad).market.submitReport(studyId, hash('report-r')));
    await increaseTime(w.provider, 25 * HOUR);
    await send(w.as(outsider).market.settle(studyId));
    expect((await w.c.market.getStudy(studyId)).status).toBe(Status.Settled);
  });

  it('reaches every custom error the two contracts declare', () => {
    const declared = ['RoDirectory', 'StudyCustody'].flatMap((name) =>
      [...readFileSync(join(import.meta.dirname, '..', 'src', 'exchange', `${name}.sol`), 'utf8').matchAll(/^\s*error (\w+)\(/gm)].map(
        (m) => m[1],
      ),
    );
    expect(declared.length).toBeGreaterThan(30);
    expect(declared.filter((e) => !seenErrors.has(e))).toEqual([]);
  });
});

const SEED = Number(process.env.FUZZ_SEED ?? 0x1ea5e);
const STEPS = Number(process.env.FUZZ_STEPS ?? 150);
/** the next transaction is mined at a timestamp in [now, now + SLACK] */
const SLACK = 30n;

interface ModelLease {
  id: bigint;
  study: string;
  requester: HDNodeWallet;
  status: bigint;
  renewalsLeft: number;
  /** renewals the requester allowed */
  allowed: number;
  requestedAt: bigint;
  expiresAt: bigint;
  period: bigint;
  fee: bigint;
  /** grants + renewals paid out */
  paidTimes: number;
}

describe('StudyCustody: conservation under a random run', () => {
  it(`token balance == balances + requested escrow + storage held, over ${STEPS} steps (seed ${SEED})`, async () => {
    const rnd = prng(SEED);
    const requesters = [nRo, thirdRo];
    const thirdKey = logsOf(directory, await send(dir(thirdRo).addKey(encKey('t-fuzz'), thirdRo.address)))[0].args.keyId as bigint;
    const keyOf = new Map([
      [nRo.address, nKey],
      [thirdRo.address, thirdKey],
    ]);
    const studies = [await registerStudy(oRo), await registerStudy(oRo), await registerStudy(oRo)];
    // the patients of two studies may revoke custody during the run
    const far = BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * 86400);
    const patientLinks = [
      await linkPatient(links, oAgent, outsider, Wallet.createRandom(), studies[1], w.deployment.chainId, far),
      await linkPatient(links, oAgent, outsider, Wallet.createRandom(), studies[2], w.deployment.chainId, far),
    ];
    const revoked = new Set<string>();
    await send(custody.setFees(3n * USD + 7n, 1234, 777)); // shares that round
    const fee = 3n * USD + 7n;
    for (const ro of requesters) {
      await send(w.c.token.mint(ro.address, 10_000n * USD));
      await send(w.as(ro).token.approve(custody.target, MaxUint256));
    }
    const accounts = [oRo, nRo, thirdRo, w.treasury];
    const balances = new Map<string, bigint>();
    for (const a of accounts) balances.set(a.address, (await custody.balanceOf(a.address)) as bigint);
    let storage = (await custody.storageHeld()) as bigint;
    const leases: ModelLease[] = [];
    const payouts = new Map<bigint, bigint>();
    const credit = (a: string, v: bigint) => balances.set(a, balances.get(a)! + v);
    let now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    const counts: Record<string, number> = {};
    const timeout = BigInt(await custody.REQUEST_TIMEOUT());

    const attempt = async (label: string, expected: string[], tx: () => Promise<TransactionReceipt>) => {
      let receipt: TransactionReceipt | undefined;
      let outcome = 'ok';
      try {
        receipt = await tx();
      } catch (e) {
        const decoded = decodeThrownError(e);
        if (!decoded) throw e;
        outcome = decoded.name;
      }
      expect(expected, `${label}: got ${outcome}`).toContain(outcome);
      counts[`${label}:${outcome}`] = (counts[`${label}:${outcome}`] ?? 0) + 1;
      if (receipt) now = await blockTimestamp(w.provider, receipt.blockNumber);
      return receipt;
    };
    const paid = (l: ModelLease, r: TransactionReceipt) => {
      const ev = logsOf(custody, r).find((e) => e.name === 'LeaseFeePaid')!.args;
      const protocolFee = (l.fee * 1234n) / 10000n;
      const share = (l.fee * 777n) / 10000n;
      expect([ev.toCustodian, ev.protocolFee, ev.storageShare]).toEqual([l.fee - protocolFee - share, protocolFee, share]);
      credit(oRo.address, l.fee - protocolFee - share);
      credit(w.treasury.address, protocolFee);
      storage += share;
      l.paidTimes += 1;
      payouts.set(l.id, (payouts.get(l.id) ?? 0n) + l.fee);
    };

    for (let step = 0; step < STEPS; step++) {
      const requested = leases.filter((l) => l.status === Lease.Requested);
      const granted = leases.filter((l) => l.status === Lease.Granted);
      const actions: [string, number][] = [
        ['deposit', 2],
        ['request', 4],
        ['withdraw', 1],
        ['wait', 1],
      ];
      if (requested.length) actions.push(['grant', 3], ['deny', 1], ['cancel', 1]);
      if (granted.length) actions.push(['renew', 2]);
      if (revoked.size < patientLinks.length && step > STEPS / 4) actions.push(['revoke', 1]);
      let r = rnd.next() * actions.reduce((a, [, x]) => a + x, 0);
      let action = 'wait';
      for (const [a, x] of actions)
        if ((r -= x) < 0) {
          action = a;
          break;
        }
      const pick = <T>(xs: T[]) => xs[rnd.int(0, xs.length - 1)];
      switch (action) {
        case 'deposit': {
          const ro = pick(requesters);
          const amount = BigInt(rnd.int(1, 20)) * USD;
          await attempt('deposit', ['ok'], () => send(cus(ro).deposit(amount)));
          credit(ro.address, amount);
          break;
        }
        case 'withdraw': {
          const a = pick(accounts);
          const have = balances.get(a.address)!;
          const amount = BigInt(rnd.int(1, 15)) * USD;
          const rc = await attempt('withdraw', [have >= amount ? 'ok' : 'InsufficientBalance'], () => send(cus(a).withdraw(amount)));
          if (rc) credit(a.address, -amount);
          break;
        }
        case 'request': {
          const ro = pick(requesters);
          const have = balances.get(ro.address)!;
          const period = BigInt(rnd.int(300, 3 * 86400));
          const renewals = rnd.int(0, 2);
          const study = pick(studies);
          const expected = revoked.has(study) ? 'RevokedByPatient' : have >= fee ? 'ok' : 'InsufficientBalance';
          const rc = await attempt('request', [expected], () =>
            send(cus(ro).requestLease(study, period, keyOf.get(ro.address)!, renewals)),
          );
          if (rc) {
            credit(ro.address, -fee);
            const leaseId = logsOf(custody, rc).find((e) => e.name === 'LeaseRequested')!.args.leaseId as bigint;
            leases.push({
              id: leaseId,
              study,
              requester: ro,
              status: Lease.Requested,
              renewalsLeft: renewals,
              allowed: renewals,
              requestedAt: now,
              expiresAt: 0n,
              period,
              fee,
              paidTimes: 0,
            });
          }
          break;
        }
        case 'grant': {
          const l = pick(leases);
          const expected = l.status !== Lease.Requested ? 'InvalidLeaseStatus' : revoked.has(l.study) ? 'RevokedByPatient' : 'ok';
          const rc = await attempt('grant', [expected], () => send(cus(oAgent).grantLease(l.id, hash(`wk-${l.id}`), hash(`ct-${l.id}`))));
          if (rc) {
            l.status = Lease.Granted;
            l.expiresAt = now + l.period;
            paid(l, rc);
          }
          break;
        }
        case 'deny': {
          const l = pick(requested);
          await attempt('deny', ['ok'], () => send(cus(oRo).denyLease(l.id)));
          l.status = Lease.Denied;
          credit(l.requester.address, l.fee);
          break;
        }
        case 'cancel': {
          const l = pick(requested);
          const deadline = l.requestedAt + timeout;
          const early = !revoked.has(l.study);
          if (early && now <= deadline && now + SLACK > deadline) break; // too close to the boundary to predict
          const rc = await attempt('cancel', [now > deadline || !early ? 'ok' : 'RequestNotTimedOut'], () =>
            send(cus(l.requester).cancelLeaseRequest(l.id)),
          );
          if (rc) {
            l.status = Lease.Cancelled;
            credit(l.requester.address, l.fee);
          }
          break;
        }
        case 'renew': {
          const l = pick(granted);
          const have = balances.get(l.requester.address)!;
          const expected = revoked.has(l.study)
            ? 'RevokedByPatient'
            : l.renewalsLeft === 0
              ? 'NoRenewalsLeft'
              : have < l.fee
                ? 'InsufficientBalance'
                : 'ok';
          const rc = await attempt('renew', [expected], () => send(cus(oRo).renewLease(l.id)));
          if (rc) {
            credit(l.requester.address, -l.fee);
            l.renewalsLeft -= 1;
            l.expiresAt = (l.expiresAt > now ? l.expiresAt : now) + l.period;
            expect((await custody.leaseOf(l.id)).expiresAt).toBe(l.expiresAt);
            paid(l, rc);
          }
          break;
        }
        case 'revoke': {
          // the patient's revocation moves no tokens: balances, escrow and storage held stay as they are
          const link = pick(patientLinks.filter((p) => !revoked.has(p.studyId)));
          const sig = await signRevocation(links, eoaSigner(link.key), link.studyId, link.commitment, far);
          await attempt('revoke', ['ok'], () =>
            send((links.connect(outsider) as Contract).revoke(link.studyId, link.account, link.salt, far, sig)),
          );
          revoked.add(link.studyId);
          for (const l of leases.filter((x) => x.study === link.studyId && x.status === Lease.Granted))
            expect(await custody.isLeaseValid(l.id)).toBe(false);
          break;
        }
        default: {
          await increaseTime(w.provider, rnd.int(60, 3 * 86400));
          now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
          counts['wait:ok'] = (counts['wait:ok'] ?? 0) + 1;
        }
      }

      // conservation, and every balance as the model has it
      const onChain = await Promise.all(accounts.map((a) => custody.balanceOf(a.address) as Promise<bigint>));
      expect(onChain).toEqual(accounts.map((a) => balances.get(a.address)));
      expect(await custody.storageHeld()).toBe(storage);
      const escrow = leases.filter((l) => l.status === Lease.Requested).reduce((a, l) => a + l.fee, 0n);
      const held = (await w.c.token.balanceOf(custody.target)) as bigint;
      expect(onChain.reduce((a, b) => a + b, 0n) + escrow + storage, `conservation at step ${step} (${action})`).toBe(held);
    }
    // nothing paid twice: each lease paid out exactly once per grant and renewal, never when denied or cancelled
    for (const l of leases) {
      const times = l.status === Lease.Granted ? 1 + l.allowed - l.renewalsLeft : 0;
      expect(l.paidTimes, `lease ${l.id}`).toBe(times);
      expect(payouts.get(l.id) ?? 0n).toBe(l.fee * BigInt(times));
    }
    expect(counts['grant:ok'] ?? 0).toBeGreaterThan(0);
    expect(counts['deny:ok'] ?? 0).toBeGreaterThan(0);
    expect(counts['renew:ok'] ?? 0).toBeGreaterThan(0);
    expect(counts['revoke:ok'] ?? 0).toBeGreaterThan(0);
  });
});
