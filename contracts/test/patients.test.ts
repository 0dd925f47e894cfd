/**
 * Patients on chain: PatientLinks (link commitments accepted by the patient's signature, EOA or ERC-1271, submitted by
 * a relayer; revocation of custody) and ResearchPools (governed pools, consent and its withdrawal, purchases, releases
 * by link commitment, compensation through a Merkle distributor). Two studies of one patient leave no shared value on
 * chain and never the patient's address; every custom error of both contracts is reached; a seeded random run of
 * consents, withdrawals, purchases, releases, epoch roots, claims, refunds, withdrawals and waits checks after every step
 * that token.balanceOf(pools) == balances + open purchase escrow + unclaimed epoch pots, and that nothing is claimed
 * twice (FUZZ_STEPS / FUZZ_SEED as in escrow.test.ts). After the DAO hand-over only an executed proposal creates a pool.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Contract,
  ContractFactory,
  MaxUint256,
  Wallet,
  ZeroAddress,
  ZeroHash,
  encodeBytes32String,
  getAddress,
  toBeHex,
  zeroPadValue,
  id as keccakId,
  parseEther,
  type BaseWallet,
  type HDNodeWallet,
  type TransactionReceipt,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeThrownError, mined, descriptionHash, issuanceArgs, loadArtifact } from '#chain';
import { deployGovernance, governanceContracts, increaseTime } from '#devchain';
import { USD, blockTimestamp, expectError, prng, seenErrors, send, startWorld, type World } from './fixture.js';
import {
  commitmentOf,
  eoaSigner,
  freshSalt,
  linkKey,
  linkPatient,
  merkleTree,
  signConsent,
  signLinkAcceptance,
  signRevocation,
  signWithdrawal,
  smartAccountSigner,
  words,
  type Leaf,
  type PatientLink,
  type Signer712,
} from './patients-support.js';

const ADMISSION_ROLE = keccakId('ADMISSION_ROLE');
const DAY = 86400;
const CT = 1;
const CHEST = encodeBytes32String('CHEST').slice(0, 34); // bytes16
const LinkStatus = { None: 0n, Proposed: 1n, Accepted: 2n, Revoked: 3n } as const;

let w: World;
let directory: Contract, custody: Contract, links: Contract, pools: Contract;
let admitter: HDNodeWallet, oRo: HDNodeWallet, nRo: HDNodeWallet, oAgent: HDNodeWallet, researcher: HDNodeWallet;
let relayer: HDNodeWallet, distributor: HDNodeWallet;
let far: bigint;
let studyCounter = 0;

const as = (c: Contract, s: BaseWallet) => c.connect(s) as Contract;
const logsOf = (c: Contract, r: TransactionReceipt) =>
  r.logs
    .filter((l) => l.address.toLowerCase() === String(c.target).toLowerCase())
    .map((l) => c.interface.parseLog(l)!)
    .map((p) => ({ name: p.name, args: p.args }));
const named = (c: Contract, r: TransactionReceipt) => logsOf(c, r).map((x) => [x.name, ...x.args.toArray()]);

/** Registers a fresh study in custody of `ro`'s RO (acting through `ro` itself) and returns its ID. */
async function registerStudy(ro: HDNodeWallet): Promise<string> {
  const studyId = keccakId(`patients-study-${++studyCounter}`);
  await send(as(custody, ro).registerStudy(studyId, keccakId(`manifest-${studyCounter}`), ...issuanceArgs(w.issue(ro.address, studyId))));
  return studyId;
}

async function linked(ro: HDNodeWallet, patient: BaseWallet = Wallet.createRandom()): Promise<PatientLink> {
  return linkPatient(links, ro, relayer, patient, await registerStudy(ro), w.deployment.chainId, far);
}

async function consentVia(
  poolId: bigint,
  l: PatientLink,
  o: { payee?: string; signer?: Signer712; deadline?: bigint; nonce?: bigint; salt?: string } = {},
) {
  const payee = o.payee ?? l.account;
  const nonce = o.nonce ?? ((await pools.consentOf(poolId, l.commitment)).nonce as bigint);
  const deadline = o.deadline ?? far;
  const sig = await signConsent(pools, o.signer ?? eoaSigner(l.key), { poolId, studyId: l.studyId, payee, nonce, deadline });
  return as(pools, relayer).consent(poolId, l.studyId, l.account, o.salt ?? l.salt, payee, deadline, sig);
}

async function withdrawVia(poolId: bigint, l: PatientLink, o: { salt?: string } = {}) {
  const nonce = (await pools.consentOf(poolId, l.commitment)).nonce as bigint;
  const sig = await signWithdrawal(pools, eoaSigner(l.key), { poolId, studyId: l.studyId, nonce, deadline: far });
  return as(pools, relayer).withdrawConsent(poolId, l.studyId, l.account, o.salt ?? l.salt, far, sig);
}

async function createPool(price: bigint, patientBps = 7000, roBps = 2500, treasuryBps = 500): Promise<bigint> {
  const r = await send(pools.createPool(keccakId(`purpose-${price}-${patientBps}`), CT, CHEST, price, patientBps, roBps, treasuryBps));
  return logsOf(pools, r).find((e) => e.name === 'PoolCreated')!.args.poolId as bigint;
}

async function buy(poolId: bigint, quantity: number, who: BaseWallet = researcher): Promise<bigint> {
  const r = await send(as(pools, who).purchase(poolId, quantity));
  return logsOf(pools, r).find((e) => e.name === 'AccessPurchased')!.args.purchaseId as bigint;
}

/** token.balanceOf(pools) == balances + escrow of open purchases + unclaimed epoch pots. */
async function assertPoolsConserved(accounts: string[]) {
  let sum = 0n;
  for (const a of new Set(accounts)) sum += (await pools.balanceOf(a)) as bigint;
  const last = (await pools.lastPurchaseId()) as bigint;
  for (let id = 1n; id <= last; id++) {
    const p = await pools.purchaseOf(id);
    if (!p.refunded) sum += (p.price as bigint) * ((p.quantity as bigint) - (p.released as bigint));
  }
  const current = (await pools.currentEpoch()) as bigint;
  for (let e = 1n; e <= current; e++) {
    const ep = await pools.epochOf(e);
    sum += (ep.total as bigint) - (ep.claimed as bigint);
  }
  expect(sum, 'pool conservation').toBe(await w.c.token.balanceOf(pools.target));
}

beforeAll(async () => {
  w = await startWorld();
  far = BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * DAY);
  directory = new Contract(w.deployment.roDirectory, loadArtifact('RoDirectory').abi, w.owner);
  custody = new Contract(w.deployment.studyCustody, loadArtifact('StudyCustody').abi, w.owner);
  links = new Contract(w.deployment.patientLinks, loadArtifact('PatientLinks').abi, w.owner);
  pools = new Contract(w.deployment.researchPools, loadArtifact('ResearchPools').abi, w.owner);
  [, admitter, oRo, nRo, , oAgent, researcher, relayer, distributor] = w.wallets;
  await send(directory.grantRole(ADMISSION_ROLE, admitter.address));
  await send(as(directory, admitter).admitRo(oRo.address, keccakId('x25519:o'), oRo.address));
  await send(as(directory, admitter).admitRo(nRo.address, keccakId('x25519:n'), nRo.address));
  await send(as(directory, oRo).addAccount(oAgent.address));
  await send(pools.setDistributor(distributor.address));
  await send(w.c.token.mint(researcher.address, 1_000_000n * USD));
  await send(as(w.c.token, researcher).approve(pools.target, MaxUint256));
});
afterAll(async () => {
  await w?.anvil.stop();
});

describe('PatientLinks', () => {
  it('links two studies of one patient at two ROs gaslessly, with no shared value on chain and no patient address', async () => {
    const patient = Wallet.createRandom(); // never funded, never sends a transaction
    const from = await w.provider.getBlockNumber();
    const a = await linked(oRo, patient);
    const b = await linked(nRo, patient);
    const to = await w.provider.getBlockNumber();
    expect(await links.isLinked(a.studyId)).toBe(true);
    expect(await links.isLinked(b.studyId)).toBe(true);
    expect(a.account).not.toBe(b.account);
    for (const account of [patient.address, a.account, b.account]) {
      expect(await w.provider.getBalance(account)).toBe(0n);
      expect(await w.provider.getTransactionCount(account)).toBe(0);
    }
    // every value the chain holds for each study: calldata words, event topics (but the event's own) and data words
    const seen = { a: new Set<string>(), b: new Set<string>() };
    const hexOf: string[] = [];
    for (let n = from + 1; n <= to; n++) {
      const block = (await w.provider.getBlock(n, true))!;
      for (const tx of block.prefetchedTransactions) {
        const receipt = (await w.provider.getTransactionReceipt(tx.hash))!;
        const values = [...words(tx.data, true)];
        for (const log of receipt.logs) values.push(...log.topics.slice(1), ...words(log.data));
        hexOf.push(tx.data.toLowerCase(), ...receipt.logs.map((l) => (l.topics.join('') + l.data).toLowerCase()));
        const side = values.includes(a.studyId) ? seen.a : values.includes(b.studyId) ? seen.b : undefined;
        expect(side, `transaction ${tx.hash} names neither study`).toBeDefined();
        // small numbers (offsets, lengths, deadlines, timestamps) say nothing about the patient,
        // and a signature's last word is its v byte (27 or 28) padded: common to every signature
        for (const v of values) if (BigInt(v) >= 1n << 64n && !/^0x1[bc]0{62}$/.test(v)) side!.add(v);
      }
    }
    expect(seen.a.size).toBeGreaterThan(3);
    expect([...seen.a].filter((v) => seen.b.has(v))).toEqual([]);
    const patientHex = patient.address.slice(2).toLowerCase();
    expect(hexOf.filter((h) => h.includes(patientHex))).toEqual([]);
    // the link accounts are in calldata (a signature names its signer) but in no event
    const events = await w.provider.getLogs({ fromBlock: from + 1, toBlock: to });
    for (const acct of [a.account, b.account])
      expect(events.filter((l) => (l.topics.join('') + l.data).toLowerCase().includes(acct.slice(2).toLowerCase()))).toEqual([]);
  });

  it('is proposed only by the custodian, accepted only with the opening and the signature, once', async () => {
    const studyId = await registerStudy(oRo);
    const patient = Wallet.createRandom();
    const s1 = freshSalt();
    const k1 = await linkKey(patient, s1);
    const c1 = commitmentOf(k1.address, s1, studyId, w.deployment.chainId);
    expect(await links.commitmentFor(k1.address, s1, studyId)).toBe(c1);
    await expectError(as(links, relayer).proposeLink(studyId, c1), 'NotCustodian', [studyId, relayer.address]);
    await expectError(as(links, nRo).proposeLink(studyId, c1), 'NotCustodian', [studyId, nRo.address]);
    await expectError(as(links, oRo).proposeLink(keccakId('unregistered'), c1), 'NotCustodian', [keccakId('unregistered'), oRo.address]);
    await expectError(as(links, oAgent).proposeLink(studyId, ZeroHash), 'InvalidCommitment');
    await expectError(as(links, relayer).acceptLink(studyId, k1.address, s1, far, '0x'), 'InvalidLinkStatus', [studyId, LinkStatus.None]);
    const r = await send(as(links, oAgent).proposeLink(studyId, c1));
    expect(named(links, r)).toEqual([['LinkProposed', studyId, c1, oRo.address]]);
    await expectError(as(links, oAgent).proposeLink(studyId, c1), 'CommitmentUsed', [c1]);

    // the patient lost the salt: the RO proposes again with a fresh one; the old commitment stays used
    const s2 = freshSalt();
    const k2 = await linkKey(patient, s2);
    const c2 = commitmentOf(k2.address, s2, studyId, w.deployment.chainId);
    await send(as(links, oRo).proposeLink(studyId, c2));
    expect(await links.studyOf(c1)).toBe(studyId);
    expect((await links.linkOf(studyId)).commitment).toBe(c2);
    const sig1 = await signLinkAcceptance(links, eoaSigner(k1), studyId, c1, far);
    await expectError(as(links, relayer).acceptLink(studyId, k1.address, s1, far, sig1), 'OpeningMismatch', [studyId]);
    const past = BigInt((await w.provider.getBlock('latest'))!.timestamp) - 1n;
    const expired = await signLinkAcceptance(links, eoaSigner(k2), studyId, c2, past);
    await expectError(as(links, relayer).acceptLink(studyId, k2.address, s2, past, expired), 'SignatureExpired', [past]);
    const byOther = await signLinkAcceptance(links, eoaSigner(k1), studyId, c2, far);
    await expectError(as(links, relayer).acceptLink(studyId, k2.address, s2, far, byOther), 'InvalidPatientSignature', [studyId]);
    const revocationSig = await signRevocation(links, eoaSigner(k2), studyId, c2, far); // another type: not an acceptance
    await expectError(as(links, relayer).acceptLink(studyId, k2.address, s2, far, revocationSig), 'InvalidPatientSignature', [studyId]);
    await expectError(as(links, relayer).revoke(studyId, k2.address, s2, far, revocationSig), 'InvalidLinkStatus', [
      studyId,
      LinkStatus.Proposed,
    ]);
    const sig2 = await signLinkAcceptance(links, eoaSigner(k2), studyId, c2, far);
    const accepted = await send(as(links, relayer).acceptLink(studyId, k2.address, s2, far, sig2));
    expect(named(links, accepted)).toEqual([['LinkAccepted', studyId, c2]]);
    expect(await links.opens(studyId, k2.address, s2)).toBe(true);
    expect(await links.opens(studyId, k1.address, s1)).toBe(false);
    await expectError(as(links, relayer).acceptLink(studyId, k2.address, s2, far, sig2), 'InvalidLinkStatus', [
      studyId,
      LinkStatus.Accepted,
    ]);
    await expectError(as(links, oRo).proposeLink(studyId, keccakId('another')), 'InvalidLinkStatus', [studyId, LinkStatus.Accepted]);
    await expectError(as(links, relayer).revoke(studyId, k2.address, s1, far, revocationSig), 'OpeningMismatch', [studyId]);

    // the link account itself may call without a signature (it then pays its gas)
    const own = await registerStudy(oRo);
    const key = Wallet.createRandom().connect(w.provider);
    await mined(w.owner.sendTransaction({ to: key.address, value: parseEther('1') }));
    const salt = freshSalt();
    await send(as(links, oRo).proposeLink(own, commitmentOf(key.address, salt, own, w.deployment.chainId)));
    await send(as(links, key).acceptLink(own, key.address, salt, 0, '0x'));
    await send(as(links, key).revoke(own, key.address, salt, 0, '0x'));
    expect((await links.linkOf(own)).status).toBe(LinkStatus.Revoked);
    expect(await custody.revokedAt(own)).toBeGreaterThan(0n);
    await expectError(as(links, oRo).proposeLink(own, keccakId('after-revocation')), 'NotCustodian', [own, oRo.address]);

    await expectError(
      new ContractFactory(loadArtifact('PatientLinks').abi, loadArtifact('PatientLinks').bytecode, w.owner).deploy(ZeroAddress),
      'ZeroAddress',
    );
  });

  it('accepts and revokes for an ERC-1271 smart account (SignatureChecker)', async () => {
    const owner = Wallet.createRandom();
    const artifact = loadArtifact('TestSmartAccount' as never);
    const account = await new ContractFactory(artifact.abi, artifact.bytecode, w.owner).deploy(owner.address);
    await account.waitForDeployment();
    const accountAddress = await account.getAddress();
    const studyId = await registerStudy(oRo);
    const salt = freshSalt();
    const commitment = commitmentOf(accountAddress, salt, studyId, w.deployment.chainId);
    await send(as(links, oAgent).proposeLink(studyId, commitment));
    const wrong = await signLinkAcceptance(links, smartAccountSigner(Wallet.createRandom()), studyId, commitment, far);
    await expectError(as(links, relayer).acceptLink(studyId, accountAddress, salt, far, wrong), 'InvalidPatientSignature', [studyId]);
    const sig = await signLinkAcceptance(links, smartAccountSigner(owner), studyId, commitment, far);
    await send(as(links, relayer).acceptLink(studyId, accountAddress, salt, far, sig));
    expect(await links.isLinked(studyId)).toBe(true);

    // the smart account consents to a pool too, and its revocation makes the study unreleasable
    const poolId = await createPool(5n * USD);
    const link = { studyId, salt, key: owner, account: accountAddress, commitment } as unknown as PatientLink;
    await send(consentVia(poolId, link, { signer: smartAccountSigner(owner), payee: accountAddress }));
    expect((await pools.consentOf(poolId, commitment)).payee).toBe(accountAddress);
    const purchaseId = await buy(poolId, 1);
    const revocation = await signRevocation(links, smartAccountSigner(owner), studyId, commitment, far);
    const r = await send(as(links, relayer).revoke(studyId, accountAddress, salt, far, revocation));
    expect(named(custody, r)).toEqual([['CustodyRevoked', studyId, oRo.address]]);
    await expectError(as(pools, oAgent).release(purchaseId, [commitment]), 'NotReleasable', [commitment]);
  });
});

describe('ResearchPools', () => {
  it('creates pools only by the owner, within the hard bounds', async () => {
    const purpose = keccakId('purpose');
    await expectError(as(pools, oRo).createPool(purpose, CT, CHEST, USD, 7000, 2500, 500), 'OwnableUnauthorizedAccount', [oRo.address]);
    await expectError(pools.createPool(ZeroHash, CT, CHEST, USD, 7000, 2500, 500), 'InvalidPurpose');
    await expectError(pools.createPool(purpose, 7, CHEST, USD, 7000, 2500, 500), 'ParameterOutOfBounds', [7n]);
    await expectError(pools.createPool(purpose, CT, CHEST, 0, 7000, 2500, 500), 'ParameterOutOfBounds', [0n]);
    const max = (await pools.MAX_PRICE_PER_STUDY()) as bigint;
    await expectError(pools.createPool(purpose, CT, CHEST, max + 1n, 7000, 2500, 500), 'ParameterOutOfBounds', [max + 1n]);
    await expectError(pools.createPool(purpose, CT, CHEST, USD, 7000, 2500, 400), 'InvalidShares', [7000n, 2500n, 400n]);
    await expectError(pools.createPool(purpose, CT, CHEST, USD, 4999, 4001, 1000), 'InvalidShares', [4999n, 4001n, 1000n]);
    await expectError(pools.createPool(purpose, CT, CHEST, USD, 5000, 3999, 1001), 'InvalidShares', [5000n, 3999n, 1001n]);
    const r = await send(pools.createPool(purpose, CT, CHEST, max, 5000, 4000, 1000));
    const poolId = logsOf(pools, r)[0].args.poolId as bigint;
    expect(named(pools, r)).toEqual([['PoolCreated', poolId, purpose, BigInt(CT), CHEST, max, 5000n, 4000n, 1000n]]);
    const pool = await pools.poolOf(poolId);
    expect([pool.purposeHash, pool.modality, pool.bodyPart, pool.closed]).toEqual([purpose, BigInt(CT), CHEST, false]);
    await expectError(as(pools, oRo).setTreasury(oRo.address), 'OwnableUnauthorizedAccount', [oRo.address]);
    await expectError(pools.setTreasury(ZeroAddress), 'ZeroAddress');
    await expectError(as(pools, oRo).setDistributor(oRo.address), 'OwnableUnauthorizedAccount', [oRo.address]);
    const factory = new ContractFactory(loadArtifact('ResearchPools').abi, loadArtifact('ResearchPools').bytecode, w.owner);
    await expectError(factory.deploy(ZeroAddress, links.target, w.treasury.address, ZeroAddress, w.owner.address), 'ZeroAddress');
  });

  it('takes consent, purchase, release and pays every share exactly; patients claim gaslessly from the epoch root', async () => {
    const price = 10n * USD + 3n; // shares that round
    const poolId = await createPool(price, 7000, 2500, 500);
    const patientShare = (price * 7000n) / 10000n;
    const treasuryShare = (price * 500n) / 10000n;
    const roShare = price - patientShare - treasuryShare;
    const [p1, p2, p3] = [await linked(oAgent), await linked(oRo), await linked(oRo)];
    const p4 = await linked(nRo);

    // consent: gasless, by the study's link account, with the consent's nonce
    await expectError(consentVia(99n, p1), 'PoolNotFound', [99n]);
    await expectError(consentVia(poolId, p1, { payee: ZeroAddress }), 'ZeroAddress');
    await expectError(consentVia(poolId, p1, { salt: p2.salt }), 'NotLinkedPatient', [p1.studyId]);
    const past = BigInt((await w.provider.getBlock('latest'))!.timestamp) - 1n;
    await expectError(consentVia(poolId, p1, { deadline: past }), 'SignatureExpired', [past]);
    await expectError(consentVia(poolId, p1, { nonce: 5n }), 'InvalidPatientSignature', [p1.studyId]);
    await expectError(consentVia(poolId, p1, { signer: eoaSigner(p2.key) }), 'InvalidPatientSignature', [p1.studyId]);
    const c = await send(consentVia(poolId, p1));
    expect(named(pools, c)).toEqual([['ConsentGiven', poolId, p1.commitment, 1n]]);
    await expectError(consentVia(poolId, p1), 'ConsentAlreadyGiven', [poolId, p1.commitment]);
    for (const p of [p2, p3, p4]) await send(consentVia(poolId, p));
    await expectError(withdrawVia(poolId, p3, { salt: p1.salt }), 'NotLinkedPatient', [p3.studyId]);
    const wd = await send(withdrawVia(poolId, p3));
    expect(named(pools, wd)).toEqual([['ConsentWithdrawn', poolId, p3.commitment, 2n]]);
    await expectError(withdrawVia(poolId, p3), 'NoLiveConsent', [poolId, p3.commitment]);
    // the withdrawn consent's signature cannot be replayed (its nonce has moved on)
    const replay = await signConsent(pools, eoaSigner(p3.key), {
      poolId,
      studyId: p3.studyId,
      payee: p3.account,
      nonce: 0n,
      deadline: far,
    });
    await expectError(
      as(pools, relayer).consent(poolId, p3.studyId, p3.account, p3.salt, p3.account, far, replay),
      'InvalidPatientSignature',
      [p3.studyId],
    );

    // purchase: escrowed from the researcher
    await expectError(as(pools, researcher).purchase(99n, 1), 'PoolNotFound', [99n]);
    await expectError(as(pools, researcher).purchase(poolId, 0), 'ParameterOutOfBounds', [0n]);
    const held0 = (await w.c.token.balanceOf(pools.target)) as bigint;
    const purchaseId = await buy(poolId, 3);
    expect(await w.c.token.balanceOf(pools.target)).toBe(held0 + 3n * price);

    // release: by the custodian, live link, live consent, once per purchase
    await expectError(as(pools, relayer).release(purchaseId, [p1.commitment]), 'NotActiveRoAccount', [relayer.address]);
    await expectError(as(pools, oRo).release(99n, [p1.commitment]), 'PurchaseNotFound', [99n]);
    await expectError(as(pools, oRo).release(purchaseId, []), 'ZeroAmount');
    const four = [p1.commitment, p2.commitment, p3.commitment, p4.commitment];
    await expectError(as(pools, oRo).release(purchaseId, four), 'PurchaseExhausted', [purchaseId, 3n]);
    await expectError(as(pools, oRo).release(purchaseId, [keccakId('nobody')]), 'NotReleasable', [keccakId('nobody')]);
    await expectError(as(pools, oRo).release(purchaseId, [p4.commitment]), 'NotReleasable', [p4.commitment]);
    await expectError(as(pools, oRo).release(purchaseId, [p3.commitment]), 'NoLiveConsent', [poolId, p3.commitment]);
    await expectError(as(pools, oRo).release(purchaseId, [p1.commitment, p1.commitment]), 'AlreadyReleased', [purchaseId, p1.commitment]);
    const ro0 = (await pools.balanceOf(oRo.address)) as bigint;
    const t0 = (await pools.balanceOf(w.treasury.address)) as bigint;
    const epoch = (await pools.currentEpoch()) as bigint;
    const rel = await send(as(pools, oAgent).release(purchaseId, [p1.commitment, p2.commitment]));
    console.log(`release gas (2 studies): ${rel.gasUsed}`);
    expect(named(pools, rel)).toEqual([
      ['StudyReleased', purchaseId, p1.commitment, oRo.address, epoch],
      ['StudyReleased', purchaseId, p2.commitment, oRo.address, epoch],
      ['ReleasePaid', purchaseId, oRo.address, 2n, 2n * roShare, 2n * treasuryShare, 2n * patientShare, epoch],
    ]);
    expect(await pools.balanceOf(oRo.address)).toBe(ro0 + 2n * roShare);
    expect(await pools.balanceOf(w.treasury.address)).toBe(t0 + 2n * treasuryShare);
    expect(await pools.releasedPayee(purchaseId, p1.commitment)).toBe(p1.account);
    await send(as(pools, nRo).release(purchaseId, [p4.commitment]));
    await expectError(as(pools, oRo).release(purchaseId, [p3.commitment]), 'PurchaseExhausted', [purchaseId, 0n]);
    expect((await pools.epochOf(epoch)).total).toBe(3n * patientShare);
    await assertPoolsConserved([oRo.address, nRo.address, w.treasury.address, researcher.address]);

    // the epoch's root: one leaf per payee; anyone submits a claim, the payee receives. The three payees sit in a tree
    // of 4,096 leaves (the others pay nothing) so the claims' gas is that of an epoch of thousands of patients.
    await expectError(as(pools, relayer).claim(epoch, 0, p1.account, patientShare, []), 'EpochNotPublished', [epoch]);
    const leaves: Leaf[] = [p1, p2, p4].map((p, i) => ({ index: BigInt(i), account: p.account, amount: patientShare }));
    const filler = Array.from({ length: 4096 - leaves.length }, (_, i) => ({
      index: BigInt(leaves.length + i),
      account: getAddress(zeroPadValue(toBeHex(i + 1), 20)),
      amount: 0n,
    }));
    const tree = merkleTree([...leaves, ...filler]);
    expect(tree.proof(0)).toHaveLength(12);
    await expectError(as(pools, relayer).publishEpoch(tree.root), 'NotDistributor', [relayer.address]);
    await expectError(as(pools, distributor).publishEpoch(ZeroHash), 'InvalidRoot');
    const pub = await send(as(pools, distributor).publishEpoch(tree.root));
    expect(named(pools, pub)).toEqual([['EpochPublished', epoch, tree.root, 3n * patientShare]]);
    await expectError(as(pools, distributor).publishEpoch(tree.root), 'EmptyEpoch', [epoch + 1n]);
    await expectError(as(pools, relayer).claim(epoch, 0, p1.account, patientShare + 1n, tree.proof(0)), 'InvalidProof', [epoch, 0n]);
    await expectError(as(pools, relayer).claim(epoch, 1, p1.account, patientShare, tree.proof(0)), 'InvalidProof', [epoch, 1n]);
    for (const [i, l] of leaves.entries()) {
      const cl = await send(as(pools, relayer).claim(epoch, l.index, l.account, l.amount, tree.proof(i)));
      expect(named(pools, cl)).toEqual([['CompensationClaimed', epoch, l.index, l.amount]]);
      expect(cl.gasUsed, 'a claim in an epoch of 4,096 payees').toBeLessThan(110_000n);
      if (i === 0) console.log(`claim gas (12-hash proof): ${cl.gasUsed}`);
      expect(await w.c.token.balanceOf(l.account)).toBe(patientShare);
      expect(await w.provider.getBalance(l.account)).toBe(0n); // gasless: the payee never held ETH
    }
    expect(await pools.isClaimed(epoch, 1)).toBe(true);
    await expectError(as(pools, relayer).claim(epoch, 0, p1.account, patientShare, tree.proof(0)), 'AlreadyClaimed', [epoch, 0n]);
    expect((await pools.epochOf(epoch)).claimed).toBe(3n * patientShare);

    // a wrong root cannot pay more than the epoch's pot (the owner publishes too)
    const second = await buy(poolId, 2);
    await send(as(pools, oRo).release(second, [p1.commitment]));
    const bad = merkleTree([
      { index: 0n, account: relayer.address, amount: patientShare + 1n },
      { index: 1n, account: relayer.address, amount: 1n },
    ]);
    await send(pools.publishEpoch(bad.root));
    await expectError(as(pools, relayer).claim(epoch + 1n, 0, relayer.address, patientShare + 1n, bad.proof(0)), 'ExceedsEpochTotal', [
      epoch + 1n,
      patientShare,
    ]);

    // refunds: after the term, or at once when the pool closes
    await expectError(as(pools, relayer).refundPurchase(second), 'NotResearcher', [second, relayer.address]);
    const bought = (await pools.purchaseOf(second)).purchasedAt as bigint;
    const term = BigInt(await pools.PURCHASE_TERM());
    await expectError(as(pools, researcher).refundPurchase(second), 'PurchaseStillOpen', [second, bought + term]);
    await expectError(as(pools, oRo).closePool(poolId), 'OwnableUnauthorizedAccount', [oRo.address]);
    const closed = await send(pools.closePool(poolId));
    expect(named(pools, closed)).toEqual([['PoolClosedByOwner', poolId]]);
    await expectError(pools.closePool(poolId), 'PoolClosed', [poolId]);
    await expectError(as(pools, researcher).purchase(poolId, 1), 'PoolClosed', [poolId]);
    await expectError(consentVia(poolId, p3), 'PoolClosed', [poolId]);
    const r0 = (await pools.balanceOf(researcher.address)) as bigint;
    const refund = await send(as(pools, researcher).refundPurchase(second));
    expect(named(pools, refund)).toEqual([['PurchaseRefunded', second, researcher.address, 1n, price]]);
    expect(await pools.balanceOf(researcher.address)).toBe(r0 + price);
    await expectError(as(pools, researcher).refundPurchase(second), 'PurchaseClosed', [second]);
    await expectError(as(pools, oRo).release(second, [p2.commitment]), 'PurchaseClosed', [second]);
    // consent can still be withdrawn from a closed pool
    await send(withdrawVia(poolId, p2));

    // balances are withdrawn by their owners
    await expectError(as(pools, oRo).withdraw(0), 'ZeroAmount');
    const roBalance = (await pools.balanceOf(oRo.address)) as bigint;
    await expectError(as(pools, oRo).withdraw(roBalance + 1n), 'InsufficientBalance', [roBalance, roBalance + 1n]);
    const tok0 = (await w.c.token.balanceOf(oRo.address)) as bigint;
    await send(as(pools, oRo).withdraw(roBalance));
    expect(await w.c.token.balanceOf(oRo.address)).toBe(tok0 + roBalance);
    await assertPoolsConserved([oRo.address, nRo.address, w.treasury.address, researcher.address]);
  });

  it('reaches every custom error PatientLinks and ResearchPools declare', () => {
    const declared = ['PatientLinks', 'ResearchPools'].flatMap((name) =>
      [...readFileSync(join(import.meta.dirname, '..', 'src', 'patients', `${name}.sol`), 'utf8').matchAll(/^\s*error (\w+)\(/gm)].map(
        (m) => m[1],
      ),
    );
    expect(declared.length).toBeGreaterThan(35);
    expect(declared.filter((e) => !seenErrors.has(e))).toEqual([]);
  });
});

const SEED = Number(process.env.FUZZ_SEED ?? 0x9a7e5);
const STEPS = Number(process.env.FUZZ_STEPS ?? 150);
/** the next transaction is mined at a timestamp in [now, now + SLACK] */
const SLACK = 30n;

interface ModelPurchase {
  id: bigint;
  pool: bigint;
  researcher: HDNodeWallet;
  quantity: number;
  released: Set<string>;
  refunded: boolean;
  purchasedAt: bigint;
}

describe('ResearchPools: conservation under a random run', () => {
  it(`token balance == balances + open purchase escrow + unclaimed pots, nothing claimed twice, over ${STEPS} steps (seed ${SEED})`, async () => {
    const rnd = prng(SEED);
    const pick = <T>(xs: T[]) => xs[rnd.int(0, xs.length - 1)];
    const researchers = [researcher, w.wallets[4]];
    await send(w.c.token.mint(w.wallets[4].address, 1_000_000n * USD));
    await send(as(w.c.token, w.wallets[4]).approve(pools.target, MaxUint256));
    const prices = [3n * USD + 1n, 7n * USD + 9n];
    const poolIds = [await createPool(prices[0], 6000, 3500, 500), await createPool(prices[1], 8000, 1100, 900)];
    const shares = new Map<bigint, { price: bigint; patient: bigint; treasury: bigint; ro: bigint }>();
    for (const [i, id] of poolIds.entries()) {
      const p = await pools.poolOf(id);
      const patient = (prices[i] * (p.patientBps as bigint)) / 10000n;
      const treasury = (prices[i] * (p.treasuryBps as bigint)) / 10000n;
      shares.set(id, { price: prices[i], patient, treasury, ro: prices[i] - patient - treasury });
    }
    const studies: { link: PatientLink; ro: HDNodeWallet }[] = [];
    for (let i = 0; i < 6; i++) {
      const ro = i % 3 === 2 ? nRo : oRo;
      studies.push({ link: await linked(ro), ro });
    }
    const accounts = [oRo, nRo, w.treasury, ...researchers];
    const balances = new Map<string, bigint>();
    for (const a of accounts) balances.set(a.address, (await pools.balanceOf(a.address)) as bigint);
    const credit = (a: string, v: bigint) => balances.set(a, balances.get(a)! + v);
    const consents = new Map<string, boolean>(); // `${pool}:${commitment}`
    const purchases: ModelPurchase[] = [];
    let epoch = (await pools.currentEpoch()) as bigint;
    let pending: Leaf[] = []; // releases of the open epoch
    const published: { epoch: bigint; leaves: Leaf[]; tree: ReturnType<typeof merkleTree>; claimed: Set<number> }[] = [];
    const claimedBy = new Map<string, bigint>();
    let closedPool: bigint | undefined;
    let now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    const term = BigInt(await pools.PURCHASE_TERM());
    const counts: Record<string, number> = {};
    // what the earlier tests of this file left here (their escrow and pots) stays untouched by this run
    await assertPoolsConserved(accounts.map((a) => a.address));
    const untouched = ((await w.c.token.balanceOf(pools.target)) as bigint) - [...balances.values()].reduce((a, b) => a + b, 0n);

    const attempt = async (label: string, expected: string, tx: () => Promise<TransactionReceipt>) => {
      let receipt: TransactionReceipt | undefined;
      let outcome = 'ok';
      try {
        receipt = await tx();
      } catch (e) {
        const decoded = decodeThrownError(e);
        if (!decoded) throw e;
        outcome = decoded.name;
      }
      expect(outcome, label).toBe(expected);
      counts[`${label}:${outcome}`] = (counts[`${label}:${outcome}`] ?? 0) + 1;
      if (receipt) now = await blockTimestamp(w.provider, receipt.blockNumber);
      return receipt;
    };

    for (let step = 0; step < STEPS; step++) {
      const actions: [string, number][] = [
        ['consent', 4],
        ['withdrawConsent', 1],
        ['purchase', 2],
        ['withdraw', 1],
        ['wait', 0.5],
      ];
      if (purchases.length) actions.push(['release', 5], ['refund', 1]);
      if (pending.length || rnd.next() < 0.1) actions.push(['publish', 1.5]);
      if (published.length) actions.push(['claim', 4]);
      if (closedPool === undefined && step > STEPS / 2) actions.push(['close', 0.3]);
      let r = rnd.next() * actions.reduce((a, [, x]) => a + x, 0);
      let action = 'wait';
      for (const [a, x] of actions)
        if ((r -= x) < 0) {
          action = a;
          break;
        }
      switch (action) {
        case 'consent': {
          const pool = pick(poolIds);
          const { link } = pick(studies);
          const key = `${pool}:${link.commitment}`;
          const expected = pool === closedPool ? 'PoolClosed' : consents.get(key) ? 'ConsentAlreadyGiven' : 'ok';
          const rc = await attempt('consent', expected, async () => send(await consentVia(pool, link)));
          if (rc) consents.set(key, true);
          break;
        }
        case 'withdrawConsent': {
          const pool = pick(poolIds);
          const { link } = pick(studies);
          const key = `${pool}:${link.commitment}`;
          const rc = await attempt('withdrawConsent', consents.get(key) ? 'ok' : 'NoLiveConsent', async () =>
            send(await withdrawVia(pool, link)),
          );
          if (rc) consents.set(key, false);
          break;
        }
        case 'purchase': {
          const pool = pick(poolIds);
          const who = pick(researchers);
          const quantity = rnd.int(1, 4);
          const rc = await attempt('purchase', pool === closedPool ? 'PoolClosed' : 'ok', () =>
            send(as(pools, who).purchase(pool, quantity)),
          );
          if (rc) {
            const id = logsOf(pools, rc).find((e) => e.name === 'AccessPurchased')!.args.purchaseId as bigint;
            purchases.push({ id, pool, researcher: who, quantity, released: new Set(), refunded: false, purchasedAt: now });
          }
          break;
        }
        case 'release': {
          const p = pick(purchases);
          const ro = pick([oRo, nRo]);
          const chosen = Array.from({ length: rnd.int(1, 3) }, () => pick(studies));
          let expected = 'ok';
          if (p.refunded) expected = 'PurchaseClosed';
          else if (chosen.length > p.quantity - p.released.size) expected = 'PurchaseExhausted';
          else {
            const seen = new Set<string>();
            for (const s of chosen) {
              const c = s.link.commitment;
              if (s.ro !== ro) expected = 'NotReleasable';
              else if (!consents.get(`${p.pool}:${c}`)) expected = 'NoLiveConsent';
              else if (p.released.has(c) || seen.has(c)) expected = 'AlreadyReleased';
              if (expected !== 'ok') break;
              seen.add(c);
            }
          }
          const rc = await attempt('release', expected, () =>
            send(
              as(pools, ro).release(
                p.id,
                chosen.map((s) => s.link.commitment),
              ),
            ),
          );
          if (rc) {
            const sh = shares.get(p.pool)!;
            const n = BigInt(chosen.length);
            const paid = logsOf(pools, rc).find((e) => e.name === 'ReleasePaid')!.args;
            expect([paid.toRo, paid.toTreasury, paid.toPatients, paid.epoch]).toEqual([n * sh.ro, n * sh.treasury, n * sh.patient, epoch]);
            credit(ro.address, n * sh.ro);
            credit(w.treasury.address, n * sh.treasury);
            for (const s of chosen) {
              p.released.add(s.link.commitment);
              expect(await pools.releasedPayee(p.id, s.link.commitment)).toBe(s.link.account);
              pending.push({ index: BigInt(pending.length), account: s.link.account, amount: sh.patient });
            }
          }
          break;
        }
        case 'refund': {
          const p = pick(purchases);
          const deadline = p.purchasedAt + term;
          const open = p.pool !== closedPool;
          if (!p.refunded && open && now <= deadline && now + SLACK > deadline) break; // too close to predict
          const expected = p.refunded ? 'PurchaseClosed' : open && now <= deadline ? 'PurchaseStillOpen' : 'ok';
          const rc = await attempt('refund', expected, () => send(as(pools, p.researcher).refundPurchase(p.id)));
          if (rc) {
            p.refunded = true;
            credit(p.researcher.address, shares.get(p.pool)!.price * BigInt(p.quantity - p.released.size));
          }
          break;
        }
        case 'publish': {
          if (!pending.length) {
            await attempt('publish', 'EmptyEpoch', () => send(as(pools, distributor).publishEpoch(keccakId('empty'))));
            break;
          }
          const tree = merkleTree(pending);
          await attempt('publish', 'ok', () => send(as(pools, distributor).publishEpoch(tree.root)));
          const total = pending.reduce((a, l) => a + l.amount, 0n);
          expect((await pools.epochOf(epoch)).total).toBe(total);
          published.push({ epoch, leaves: pending, tree, claimed: new Set() });
          pending = [];
          epoch += 1n;
          break;
        }
        case 'claim': {
          const e = pick(published);
          const i = rnd.int(0, e.leaves.length - 1);
          const l = e.leaves[i];
          const rc = await attempt('claim', e.claimed.has(i) ? 'AlreadyClaimed' : 'ok', () =>
            send(as(pools, relayer).claim(e.epoch, l.index, l.account, l.amount, e.tree.proof(i))),
          );
          if (rc) {
            e.claimed.add(i);
            claimedBy.set(l.account, (claimedBy.get(l.account) ?? 0n) + l.amount);
          }
          break;
        }
        case 'withdraw': {
          const a = pick(accounts);
          const have = balances.get(a.address)!;
          const amount =
            have > 0n && rnd.next() < 0.7 ? BigInt(rnd.int(1, Number(have > 1_000_000_000n ? 1_000_000_000n : have))) : have + 1n;
          const rc = await attempt('withdraw', amount <= have ? 'ok' : 'InsufficientBalance', () => send(as(pools, a).withdraw(amount)));
          if (rc) credit(a.address, -amount);
          break;
        }
        case 'close': {
          closedPool = pick(poolIds);
          await attempt('close', 'ok', () => send(pools.closePool(closedPool!)));
          break;
        }
        default: {
          await increaseTime(w.provider, rnd.int(DAY, 40 * DAY));
          now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
          counts['wait:ok'] = (counts['wait:ok'] ?? 0) + 1;
        }
      }

      // every balance as the model has it, and conservation
      const onChain = await Promise.all(accounts.map((a) => pools.balanceOf(a.address) as Promise<bigint>));
      expect(onChain).toEqual(accounts.map((a) => balances.get(a.address)));
      let escrow = 0n;
      for (const p of purchases) if (!p.refunded) escrow += shares.get(p.pool)!.price * BigInt(p.quantity - p.released.size);
      let unclaimed = pending.reduce((a, l) => a + l.amount, 0n);
      for (const e of published) unclaimed += e.leaves.filter((_, i) => !e.claimed.has(i)).reduce((a, l) => a + l.amount, 0n);
      const held = (await w.c.token.balanceOf(pools.target)) as bigint;
      expect(onChain.reduce((a, b) => a + b, 0n) + escrow + unclaimed + untouched, `conservation at step ${step} (${action})`).toBe(held);
    }
    await assertPoolsConserved(accounts.map((a) => a.address));

    // nothing claimed twice: every claimed leaf refuses a second claim, and each payee holds exactly what it claimed
    for (const e of published)
      for (const i of e.claimed) {
        const l = e.leaves[i];
        await expectError(as(pools, relayer).claim(e.epoch, l.index, l.account, l.amount, e.tree.proof(i)), 'AlreadyClaimed', [
          e.epoch,
          l.index,
        ]);
      }
    for (const [account, amount] of claimedBy) expect(await w.c.token.balanceOf(account)).toBe(amount);
    for (const e of published) {
      const ep = await pools.epochOf(e.epoch);
      expect(ep.claimed).toBe(e.leaves.filter((_, i) => e.claimed.has(i)).reduce((a, l) => a + l.amount, 0n));
      expect(ep.claimed <= ep.total).toBe(true);
    }
    for (const k of ['consent:ok', 'release:ok', 'publish:ok', 'claim:ok', 'claim:AlreadyClaimed', 'release:NoLiveConsent'])
      expect(counts[k] ?? 0, k).toBeGreaterThan(0);
  });
});

describe('ResearchPools: governed', () => {
  it('is owned by the DAO timelock after the hand-over: a pool is created only by an executed proposal', async () => {
    const members = w.wallets.slice(2, 5);
    const g = await deployGovernance(w.owner, w.deployment, {
      members: members.map((m) => ({ address: m.address })),
      votingDelay: 1,
      votingPeriod: 300,
      lateQuorumExtension: 100,
      timelockDelay: 600,
      quorumPercent: 40,
    });
    const dao = governanceContracts(g, w.owner);
    expect(await pools.owner()).toBe(getAddress(g.timelock));
    await expectError(pools.createPool(keccakId('direct'), CT, CHEST, USD, 7000, 2500, 500), 'OwnableUnauthorizedAccount', [
      w.owner.address,
    ]);
    await increaseTime(w.provider, 1);

    const purpose = keccakId('teaching file: chest CT, adult');
    const calldata = pools.interface.encodeFunctionData('createPool', [purpose, CT, CHEST, 4n * USD, 6000, 3000, 1000]);
    const description = 'Research pool: chest CT teaching file';
    const proposer = dao.governor.connect(members[0]) as Contract;
    const r = await send(proposer.propose([pools.target], [0n], [calldata], description));
    const proposalId = dao.governor.interface.parseLog(r.logs.find((l) => l.address === g.governor)!)!.args.proposalId as bigint;
    await increaseTime(w.provider, 2);
    for (const m of members.slice(0, 2)) await send((dao.governor.connect(m) as Contract).castVote(proposalId, 1));
    await increaseTime(w.provider, 301);
    await send(proposer.queue([pools.target], [0n], [calldata], descriptionHash(description)));
    await increaseTime(w.provider, 601);
    const before = (await pools.lastPoolId()) as bigint;
    const executed = await send(proposer.execute([pools.target], [0n], [calldata], descriptionHash(description)));
    expect(named(pools, executed)).toEqual([['PoolCreated', before + 1n, purpose, BigInt(CT), CHEST, 4n * USD, 6000n, 3000n, 1000n]]);
  });
});
