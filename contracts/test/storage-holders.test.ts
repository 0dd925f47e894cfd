/**
 * StorageHolders (issue 16): holders' registry and stakes, enrolment from StudyCustody, the draw of holders from a
 * block hash, confirmation, per-period challenges proven on chain, pay, slashing and reassignment of a missed replica,
 * drop by the custodian, and the hard bounds of the DAO's parameters. Every custom error of the contract is reached.
 *
 * Agreement with libs/storage/src/merkle.ts: every leaf of trees of 1..33 leaves, proved by MerkleTree.proofOf,
 * verifies on chain; a multi-chunk study stored by storeStudy is enrolled and its holders answer with proveLeaf; tampered
 * leaves, positions and siblings revert with InvalidProof.
 *
 * Invariant (seeded random run, FUZZ_STEPS / FUZZ_SEED as in escrow.test.ts): after every step
 * token.balanceOf(holders contract) == sum of balances + sum of stakes + sum of study escrows, and each
 * (study, replica, period) is paid at most once (from the StorageProven logs), never more than the study escrowed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Contract, MaxUint256, ZeroAddress, ZeroHash, hexlify, id as keccakId, type HDNodeWallet, type TransactionReceipt } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeThrownError, issuanceArgs, loadArtifact } from '#chain';
import { increaseTime, mine } from '#devchain';
import { FsBlobStore, LEAF_BYTES, MerkleTree, leafCountOfStudy, leafHash, proveLeaf, storeStudy } from '#storage';
import { USD, expectError, prng, seenErrors, send, startWorld, type World } from './fixture.js';

const ADMISSION_ROLE = keccakId('ADMISSION_ROLE');
const DAY = 86400;
const FEE = 1n * USD;
const MIN_STAKE = 100n * USD;
const SLASH = 10n * USD;
const GIB = 1n << 30n;
const Release = { Fault: 0n, Unconfirmed: 1n, Dropped: 2n, Expired: 3n } as const;

let w: World;
let directory: Contract;
let custody: Contract;
let sh: Contract;
let ro: HDNodeWallet, roAgent: HDNodeWallet, otherRo: HDNodeWallet;
let holders: HDNodeWallet[];
let tmp: string;
let studyCounter = 0;

const as = (s: HDNodeWallet) => sh.connect(s) as Contract;
const logsOf = (r: TransactionReceipt) =>
  r.logs
    .filter((l) => l.address.toLowerCase() === String(sh.target).toLowerCase())
    .map((l) => sh.interface.parseLog(l)!)
    .map((p) => ({ name: p.name, args: p.args }));

/** A study of `n` leaves of random bytes (the last one `lastBytes` long) and its tree, as a holder keeps it. */
function randomStudy(n: number, lastBytes = LEAF_BYTES) {
  const leaves = Array.from({ length: n }, (_, i) => randomBytes(i === n - 1 ? lastBytes : LEAF_BYTES));
  const tree = new MerkleTree(leaves.map(leafHash));
  return {
    leaves,
    tree,
    root: hexlify(tree.root),
    leafCount: n,
    proof: (i: number) => ({ leaf: leaves[i], siblings: tree.proofOf(i).siblings }),
  };
}
type StudyData = ReturnType<typeof randomStudy>;

/** Registers a fresh study in StudyCustody, in custody of `ro`. */
async function custodyStudy(by: HDNodeWallet = roAgent): Promise<string> {
  const studyId = keccakId(`holders-study-${++studyCounter}`);
  await send(
    (custody.connect(by) as Contract).registerStudy(
      studyId,
      keccakId(`manifest-${studyCounter}`),
      ...issuanceArgs(w.issue(by.address, studyId)),
    ),
  );
  return studyId;
}

async function mineBlocks(n: number) {
  for (let i = 0; i < n; i++) await mine(w.provider);
}

async function nextPeriod() {
  await increaseTime(w.provider, DAY);
}

/** Arms the current period's challenge (if nobody has) and mines past its seed block. */
async function armChallenge() {
  try {
    await send(as(holders[0]).armChallenge());
  } catch (e) {
    if (decodeThrownError(e)?.name !== 'ChallengeAlreadyArmed') throw e;
  }
  await mineBlocks(3);
}

/** Draws until every slot is filled (a draw may miss an eligible holder in MAX_PROBES tries); the assignments. */
async function assignAll(studyId: string): Promise<Map<number, string>> {
  const assigned = new Map<number, string>();
  for (let round = 0; round < 20; round++) {
    await mineBlocks(3);
    const r = await send(sh.assign(studyId));
    for (const e of logsOf(r)) if (e.name === 'ReplicaAssigned') assigned.set(Number(e.args.slot), e.args.holder as string);
    if (!logsOf(r).some((e) => e.name === 'ReplicaUnfilled')) return assigned;
  }
  throw new Error('replicas still unfilled after 20 draws');
}

const wallet = (address: string) => holders.find((h) => h.address === address)!;

async function proveNow(holder: HDNodeWallet, studyId: string, slot: number, data: StudyData) {
  const [, ready, leafIndex] = await sh.challengeOf(studyId, slot);
  expect(ready).toBe(true);
  const { leaf, siblings } = data.proof(Number(leafIndex));
  return send(as(holder).prove(studyId, slot, leaf, siblings));
}

beforeAll(async () => {
  w = await startWorld();
  tmp = mkdtempSync(join(tmpdir(), 'holders-'));
  directory = new Contract(w.deployment.roDirectory, loadArtifact('RoDirectory').abi, w.owner);
  custody = new Contract(w.deployment.studyCustody, loadArtifact('StudyCustody').abi, w.owner);
  sh = new Contract(w.deployment.storageHolders, loadArtifact('StorageHolders').abi, w.owner);
  [, otherRo, ro, roAgent] = w.wallets;
  holders = w.wallets.slice(4, 9);
  await send(directory.grantRole(ADMISSION_ROLE, w.owner.address));
  await send(directory.admitRo(ro.address, keccakId('x25519:ro'), ro.address));
  await send((directory.connect(ro) as Contract).addAccount(roAgent.address));
  await send(directory.admitRo(otherRo.address, keccakId('x25519:other'), otherRo.address));
  for (const a of [ro, otherRo, ...holders]) {
    await send(w.c.token.mint(a.address, 1_000_000n * USD));
    await send(w.as(a).token.approve(sh.target, MaxUint256));
  }
  await send(as(ro).deposit(10_000n * USD));
});
afterAll(async () => {
  await w?.anvil.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('StorageHolders: the Merkle tree of libs/storage, verified on chain', () => {
  it('accepts every leaf of trees of 1..33 leaves proved by MerkleTree.proofOf, and refuses tampered proofs', async () => {
    for (let n = 1; n <= 33; n++) {
      const s = randomStudy(n, n % 3 === 0 ? 1 + (n % LEAF_BYTES) : LEAF_BYTES);
      for (let i = 0; i < n; i++) {
        const p = s.tree.proofOf(i);
        expect([p.leafIndex, p.leafCount]).toEqual([i, n]);
        await sh.verifyLeaf(s.root, n, i, s.leaves[i], p.siblings);
      }
      const i = n - 1;
      const { siblings } = s.tree.proofOf(i);
      const flipped: Buffer = Buffer.from(s.leaves[i]);
      flipped[0] ^= 1;
      await expectError(sh.verifyLeaf(s.root, n, i, flipped, siblings), 'InvalidProof');
      await expectError(sh.verifyLeaf(s.root, n, n, s.leaves[i], siblings), 'InvalidProof');
      await expectError(sh.verifyLeaf(s.root, n, i, s.leaves[i], [...siblings, ZeroHash]), 'InvalidProof');
      if (n > 1) {
        await expectError(sh.verifyLeaf(s.root, n, i - 1, s.leaves[i], siblings), 'InvalidProof'); // wrong position
        await expectError(sh.verifyLeaf(s.root, n, i, s.leaves[i], siblings.slice(1)), 'InvalidProof');
        const bad: (Buffer | string)[] = [...siblings];
        bad[0] = keccakId('not a sibling');
        await expectError(sh.verifyLeaf(s.root, n, i, s.leaves[i], bad), 'InvalidProof');
        // a tree of another shape over the same leaves (one leaf more) does not verify
        await expectError(sh.verifyLeaf(s.root, n + 1, i, s.leaves[i], siblings), 'InvalidProof');
      }
    }
    const one = randomStudy(1);
    await expectError(sh.verifyLeaf(one.root, 1, 0, '0x', []), 'InvalidLeafLength', [0n]);
    await expectError(sh.verifyLeaf(one.root, 1, 0, randomBytes(LEAF_BYTES + 1), []), 'InvalidLeafLength', [BigInt(LEAF_BYTES + 1)]);
  });

  it('accepts every leaf of a multi-chunk study stored by storeStudy, proved by proveLeaf', async () => {
    const store = new FsBlobStore({ root: join(tmp, 'chunks') });
    const studyId = keccakId('multi-chunk');
    const manifest = await storeStudy(Readable.from([randomBytes(5 * 4096 + 777)]), {
      studyId,
      studyKey: randomBytes(32),
      store,
      chunkBytes: 4096,
    });
    expect(manifest.chunks.length).toBeGreaterThan(5);
    const n = leafCountOfStudy(manifest);
    for (let i = 0; i < n; i++) {
      const { leaf, proof } = await proveLeaf(manifest, store, i);
      await sh.verifyLeaf(manifest.merkleRoot, proof.leafCount, proof.leafIndex, leaf, proof.siblings);
      if (i % 5 === 0) {
        const flipped = Buffer.from(leaf);
        flipped[flipped.length - 1] ^= 0x80;
        await expectError(sh.verifyLeaf(manifest.merkleRoot, n, i, flipped, proof.siblings), 'InvalidProof');
      }
    }
  });
});

describe('StorageHolders: parameters', () => {
  it('are the DAO’s, within hard bounds', async () => {
    expect((await sh.parameters()).toArray()).toEqual([MIN_STAKE, SLASH, 3n, 14n * BigInt(DAY), BigInt(DAY)]);
    await expectError(as(ro).setParameters(MIN_STAKE, SLASH, 3, 14 * DAY), 'OwnableUnauthorizedAccount', [ro.address]);
    await expectError(sh.setParameters(1n, SLASH, 3, 14 * DAY), 'ParameterOutOfBounds', [1n]);
    await expectError(sh.setParameters(MIN_STAKE, 0n, 3, 14 * DAY), 'ParameterOutOfBounds', [0n]);
    await expectError(sh.setParameters(MIN_STAKE, SLASH, 8, 14 * DAY), 'ParameterOutOfBounds', [8n]);
    await expectError(sh.setParameters(MIN_STAKE, SLASH, 3, 91 * DAY), 'ParameterOutOfBounds', [BigInt(91 * DAY)]);
    await expectError(sh.setTreasury(ZeroAddress), 'ZeroAddress');
    const r = await send(sh.setParameters(MIN_STAKE, SLASH, 3, 14 * DAY));
    expect(logsOf(r).map((e) => e.name)).toEqual(['HolderParametersUpdated']);
    await send(sh.setTreasury(w.treasury.address));
    expect(await sh.treasury()).toBe(w.treasury.address);
  });
});

describe('StorageHolders: holders', () => {
  it('register with an endpoint, capacity, price and a stake of at least the minimum', async () => {
    const h = holders[0];
    await expectError(as(h).register('', GIB, 0, MIN_STAKE), 'InvalidEndpoint');
    await expectError(as(h).register('x'.repeat(257), GIB, 0, MIN_STAKE), 'InvalidEndpoint');
    await expectError(as(h).register('https://h0.example', 0, 0, MIN_STAKE), 'InvalidCapacity');
    await expectError(as(h).register('https://h0.example', GIB, 0, MIN_STAKE - 1n), 'StakeBelowMinimum', [MIN_STAKE - 1n, MIN_STAKE]);
    await expectError(as(h).updateHolder('https://h0.example', GIB, 0), 'NotRegistered', [h.address]);
    for (const [i, x] of holders.entries()) {
      const r = await send(as(x).register(`https://h${i}.example`, 10n * GIB, 1n, MIN_STAKE));
      expect(logsOf(r)[0].args.toArray()).toEqual([x.address, `https://h${i}.example`, 10n * GIB, 1n, MIN_STAKE]);
    }
    await expectError(as(h).register('https://h0.example', GIB, 0, MIN_STAKE), 'AlreadyRegistered', [h.address]);
    await send(as(h).updateHolder('https://h0.example/v2', 10n * GIB, 1n));
    const r = await send(as(h).addStake(5n * USD));
    expect(logsOf(r)[0].args.toArray()).toEqual([h.address, 5n * USD, MIN_STAKE + 5n * USD]);
    const [info, endpoint] = await sh.holderOf(h.address);
    expect([info.stake, endpoint]).toEqual([MIN_STAKE + 5n * USD, 'https://h0.example/v2']);
    expect(await sh.holderCount()).toBe(5n);
  });

  it('leave after the exit delay, with their whole stake, once no replica is assigned to them', async () => {
    const h = holders[4];
    await expectError(as(h).withdrawStake(), 'ExitNotRequested', [h.address]);
    await send(as(h).requestExit());
    await expectError(as(h).requestExit(), 'HolderExiting', [h.address]);
    await expectError(as(h).addStake(1n), 'HolderExiting', [h.address]);
    await expectError(as(h).withdrawStake(), 'ExitDelayNotOver');
    await increaseTime(w.provider, 14 * DAY);
    const before = (await w.c.token.balanceOf(h.address)) as bigint;
    await send(as(h).withdrawStake());
    expect((await w.c.token.balanceOf(h.address)) - before).toBe(MIN_STAKE);
    expect(await sh.holderCount()).toBe(4n);
    await expectError(as(h).requestExit(), 'NotRegistered', [h.address]);
    // back as a fresh holder (the swap-and-pop kept the others registered)
    await send(as(h).register('https://h4.example', 10n * GIB, 1n, MIN_STAKE));
    expect(await sh.holderCount()).toBe(5n);
  });

  it('deposit and withdraw their balances', async () => {
    await expectError(as(ro).deposit(0), 'ZeroAmount');
    await expectError(as(ro).withdraw(0), 'ZeroAmount');
    await expectError(as(holders[0]).withdraw(1n), 'InsufficientBalance', [0n, 1n]);
  });
});

describe('StorageHolders: a study stored, proven, paid, slashed and reassigned', () => {
  let data: StudyData;
  let studyId: string;
  let assigned: Map<number, string>;

  it('is enrolled by its custodian with root, leaf count and funding', async () => {
    data = randomStudy(1000, 300);
    studyId = await custodyStudy();
    const unknown = keccakId('not in custody');
    await expectError(as(roAgent).enrol(unknown, data.root, 1000, FEE, 5), 'StudyNotInCustody', [unknown]);
    await expectError(as(holders[0]).enrol(studyId, data.root, 1000, FEE, 5), 'NotActiveRoAccount', [holders[0].address]);
    await expectError(as(otherRo).enrol(studyId, data.root, 1000, FEE, 5), 'NotCustodian', [studyId, otherRo.address]);
    await expectError(as(roAgent).enrol(studyId, ZeroHash, 1000, FEE, 5), 'InvalidRoot');
    await expectError(as(roAgent).enrol(studyId, data.root, 0, FEE, 5), 'InvalidLeafCount', [0n]);
    await expectError(as(roAgent).enrol(studyId, data.root, (1n << 40n) + 1n, FEE, 5), 'InvalidLeafCount', [(1n << 40n) + 1n]);
    await expectError(as(roAgent).enrol(studyId, data.root, 1000, 0, 5), 'ZeroAmount');
    await expectError(as(roAgent).enrol(studyId, data.root, 1000, 10n ** 12n + 1n, 5), 'ParameterOutOfBounds', [10n ** 12n + 1n]);
    await expectError(as(roAgent).enrol(studyId, data.root, 1000, FEE, 0), 'InvalidPeriods', [0n]);
    await expectError(as(roAgent).enrol(studyId, data.root, 1000, 10_000n * USD, 5), 'InsufficientBalance', [
      10_000n * USD,
      150_000n * USD,
    ]);
    await expectError(sh.assign(studyId), 'StudyNotActive', [studyId]);
    const before = (await sh.balanceOf(ro.address)) as bigint;
    const r = await send(as(roAgent).enrol(studyId, data.root, 1000, FEE, 5));
    expect(logsOf(r).map((e) => e.name)).toEqual(['StudyEnrolled', 'AssignmentArmed']);
    expect(before - (await sh.balanceOf(ro.address))).toBe(15n * FEE);
    expect((await sh.studyOf(studyId)).escrow).toBe(15n * FEE);
    await expectError(as(roAgent).enrol(studyId, data.root, 1000, FEE, 5), 'StudyAlreadyEnrolled', [studyId]);
  });

  it('draws three distinct holders from a later block hash', async () => {
    const { assignBlock } = await sh.studyOf(studyId);
    await expectError(sh.assign(studyId), 'AssignmentNotReady', [studyId, assignBlock]);
    assigned = await assignAll(studyId);
    expect(assigned.size).toBe(3);
    expect(new Set(assigned.values()).size).toBe(3);
    await expectError(sh.assign(studyId), 'NoAssignmentPending', [studyId]);
    for (const h of assigned.values()) expect((await sh.holderOf(h))[0].live).toBe(1n);
  });

  it('has its holders confirm, then prove each period on chain and be paid the fee', async () => {
    const h0 = wallet(assigned.get(0)!);
    const h1 = wallet(assigned.get(1)!);
    const h2 = wallet(assigned.get(2)!);
    await expectError(as(h0).confirm(studyId, 3), 'InvalidSlot', [studyId, 3n]);
    await expectError(as(h1).confirm(studyId, 0), 'NotAssignedHolder', [studyId, 0n, h1.address]);
    await send(as(h0).confirm(studyId, 0));
    await send(as(h1).confirm(studyId, 1));
    await expectError(as(h0).confirm(studyId, 0), 'AlreadyConfirmed', [studyId, 0n]);
    await expectError(as(h2).prove(studyId, 2, data.leaves[0], []), 'NotConfirmed', [studyId, 2n]);
    await send(as(h2).confirm(studyId, 2));
    const due = (await sh.replicaOf(studyId, 0)).due as bigint;
    await expectError(as(h0).prove(studyId, 0, data.leaves[0], []), 'NotDue', [studyId, 0n, due]);

    await nextPeriod();
    const period = (await sh.currentPeriod()) as bigint;
    expect(period).toBe(due);
    await expectError(as(h0).prove(studyId, 0, data.leaves[0], []), 'ChallengeNotArmed', [period]);
    const armed = logsOf(await send(as(h0).armChallenge()))[0].args.seedBlock as bigint;
    await expectError(as(h1).armChallenge(), 'ChallengeAlreadyArmed', [period, armed]);
    await expectError(as(h0).prove(studyId, 0, data.leaves[0], []), 'ChallengeNotReady', [period, armed]);
    await mineBlocks(3);
    // a proof of another leaf, or a tampered one, is refused
    const [, , leafIndex] = await sh.challengeOf(studyId, 0);
    const wrong = (Number(leafIndex) + 1) % 1000;
    await expectError(as(h0).prove(studyId, 0, data.leaves[wrong], data.proof(wrong).siblings), 'InvalidProof');
    const tampered = Buffer.from(data.leaves[Number(leafIndex)]);
    tampered[7] ^= 4;
    await expectError(as(h0).prove(studyId, 0, tampered, data.proof(Number(leafIndex)).siblings), 'InvalidProof');
    for (const [slot, h] of [h0, h1, h2].entries()) {
      const r = await proveNow(h, studyId, slot, data);
      const names = logsOf(r).map((e) => e.name);
      expect(names).toEqual(slot === 0 ? ['ChallengeFixed', 'StorageProven'] : ['StorageProven']);
      const proven = logsOf(r).find((e) => e.name === 'StorageProven')!.args;
      expect([proven.holder, proven.period, proven.fee]).toEqual([h.address, period, FEE]);
      expect(await sh.balanceOf(h.address)).toBe(FEE);
    }
    await expectError(proveNow(h0, studyId, 0, data), 'NotDue', [studyId, 0n, period + 1n]);
    await expectError(sh.settle(studyId, 0), 'NothingToSettle', [studyId, 0n]);
    expect((await sh.studyOf(studyId)).escrow).toBe(12n * FEE);
    // the holder takes its pay out
    const before = (await w.c.token.balanceOf(h0.address)) as bigint;
    await send(as(h0).withdraw(FEE));
    expect((await w.c.token.balanceOf(h0.address)) - before).toBe(FEE);
  });

  it('slashes a holder that missed a period, pays it nothing, and reassigns its replica to another holder', async () => {
    const [h0, h1, h2] = [0, 1, 2].map((s) => wallet(assigned.get(s)!));
    await nextPeriod();
    await armChallenge();
    await proveNow(h0, studyId, 0, data);
    await proveNow(h1, studyId, 1, data);
    // h2 is down this period
    await expectError(sh.settle(studyId, 2), 'NothingToSettle', [studyId, 2n]);
    await nextPeriod();
    const missed = (await sh.replicaOf(studyId, 2)).due as bigint;
    await armChallenge();
    await expectError(proveNow(h2, studyId, 2, data), 'MissedPeriodUnsettled', [studyId, 2n, missed]);
    const stake = (await sh.holderOf(h2.address))[0].stake as bigint;
    const treasuryBefore = (await sh.balanceOf(w.treasury.address)) as bigint;
    const r = await send(as(w.wallets[1]).settle(studyId, 2)); // anyone settles
    expect(logsOf(r).map((e) => e.name)).toEqual(['HolderSlashed', 'ReplicaReleased', 'AssignmentArmed']);
    expect(logsOf(r)[0].args.toArray()).toEqual([studyId, 2n, h2.address, missed, SLASH, w.treasury.address]);
    expect(logsOf(r)[1].args.reason).toBe(Release.Fault);
    expect((await sh.holderOf(h2.address))[0].stake).toBe(stake - SLASH);
    expect((await sh.balanceOf(w.treasury.address)) - treasuryBefore).toBe(SLASH);
    expect(await sh.balanceOf(h2.address)).toBe(FEE); // paid for the first period only
    expect(await sh.isBarred(studyId, h2.address)).toBe(true);
    expect((await sh.holderOf(h2.address))[0].live).toBe(0n);
    await expectError(sh.settle(studyId, 2), 'NothingToSettle', [studyId, 2n]);
    // the others are not affected and keep proving
    await proveNow(h0, studyId, 0, data);
    const again = await assignAll(studyId);
    const fresh = wallet(again.get(2)!);
    expect([h0, h1, h2].map((h) => h.address)).not.toContain(fresh.address);
    await send(as(fresh).confirm(studyId, 2));
    await nextPeriod();
    await armChallenge();
    for (const [slot, h] of [h0, h1, fresh].entries()) {
      if (slot === 1) continue; // h1 missed the previous period (it proved only the one before): settle it
      await proveNow(h, studyId, slot, data);
    }
    expect(await sh.balanceOf(fresh.address)).toBe(FEE);
  });

  it('stops paying after the funded periods; anyone closes it then and the unspent escrow returns', async () => {
    const { fundedUntil } = await sh.studyOf(studyId);
    await send(as(roAgent).extend(studyId, 1));
    expect((await sh.studyOf(studyId)).fundedUntil).toBe(fundedUntil + 1n);
    await expectError(as(roAgent).extend(studyId, 0), 'InvalidPeriods', [0n]);
    await expectError(sh.close(studyId), 'StudyStillFunded', [studyId, fundedUntil + 1n]);
    while ((await sh.currentPeriod()) < fundedUntil + 1n) await nextPeriod();
    const h0 = wallet(assigned.get(0)!);
    await armChallenge();
    await expectError(proveNow(h0, studyId, 0, data), 'PeriodNotFunded', [studyId, fundedUntil + 1n]);
    await expectError(as(roAgent).extend(studyId, 1), 'StudyNotActive', [studyId]);
    const escrow = (await sh.studyOf(studyId)).escrow as bigint;
    const before = (await sh.balanceOf(ro.address)) as bigint;
    const r = await send(as(holders[3]).close(studyId));
    const released = logsOf(r).filter((e) => e.name === 'ReplicaReleased');
    expect(released.every((e) => e.args.reason === Release.Expired)).toBe(true);
    expect((await sh.balanceOf(ro.address)) - before).toBe(escrow);
    expect((await sh.studyOf(studyId)).escrow).toBe(0n);
    await expectError(sh.close(studyId), 'StudyNotActive', [studyId]);
  });
});

describe('StorageHolders: drop, unconfirmed replicas, exits with live replicas', () => {
  it('lets the custodian drop a study: holders are released and told to delete, the escrow returns', async () => {
    const data = randomStudy(64);
    const studyId = await custodyStudy();
    await send(as(roAgent).enrol(studyId, data.root, 64, FEE, 10));
    const assigned = await assignAll(studyId);
    for (const [slot, h] of assigned) await send(as(wallet(h)).confirm(studyId, slot));
    await nextPeriod();
    await armChallenge();
    await proveNow(wallet(assigned.get(0)!), studyId, 0, data);
    await expectError(as(holders[0]).close(studyId), 'StudyStillFunded');
    await expectError(as(otherRo).close(studyId), 'StudyStillFunded');
    const before = (await sh.balanceOf(ro.address)) as bigint;
    const r = await send(as(ro).close(studyId));
    const names = logsOf(r).map((e) => e.name);
    expect(names).toEqual(['ReplicaReleased', 'ReplicaReleased', 'ReplicaReleased', 'StudyClosed']);
    expect(
      logsOf(r)
        .slice(0, 3)
        .map((e) => e.args.reason),
    ).toEqual([Release.Dropped, Release.Dropped, Release.Dropped]);
    expect(logsOf(r)[3].args.dropped).toBe(true);
    expect((await sh.balanceOf(ro.address)) - before).toBe(30n * FEE - FEE);
    await expectError(proveNow(wallet(assigned.get(1)!), studyId, 1, data), 'StudyNotActive', [studyId]);
    for (const h of assigned.values()) expect((await sh.holderOf(h))[0].live).toBe(0n);
  });

  it('releases an assignment not confirmed in time without a slash, and keeps an assigned holder from leaving', async () => {
    const data = randomStudy(8);
    const studyId = await custodyStudy();
    await send(as(roAgent).enrol(studyId, data.root, 8, FEE, 10));
    const assigned = await assignAll(studyId);
    const lazy = wallet(assigned.get(0)!);
    await send(as(lazy).requestExit());
    await increaseTime(w.provider, 14 * DAY);
    await expectError(as(lazy).withdrawStake(), 'LiveAssignments', [lazy.address, 1n]);
    await expectError(as(lazy).confirm(studyId, 0), 'ConfirmWindowOver', [studyId, 0n]);
    const stake = (await sh.holderOf(lazy.address))[0].stake as bigint;
    const r = await send(sh.settle(studyId, 0));
    expect(logsOf(r).map((e) => e.name)).toEqual(['ReplicaReleased', 'AssignmentArmed']);
    expect(logsOf(r)[0].args.reason).toBe(Release.Unconfirmed);
    expect((await sh.holderOf(lazy.address))[0].stake).toBe(stake);
    await send(as(lazy).withdrawStake());
    await expectError(sh.settle(studyId, 3), 'InvalidSlot', [studyId, 3n]);
  });

  it('reaches every custom error of the contract', () => {
    const declared = new Set<string>();
    sh.interface.forEachError((f) => declared.add(f.name));
    // OpenZeppelin's, reached in other files or impossible here (renounced/unused paths)
    for (const inherited of ['OwnableInvalidOwner', 'ReentrancyGuardReentrantCall', 'SafeERC20FailedOperation']) declared.delete(inherited);
    expect([...declared].filter((n) => !seenErrors.has(n)).sort()).toEqual([]);
  });
});

// ───────────────────────────── invariant fuzz ─────────────────────────────

const SEED = Number(process.env.FUZZ_SEED ?? 0x5707e);
const STEPS = Number(process.env.FUZZ_STEPS ?? 150);

describe('StorageHolders: conservation', () => {
  it(
    `holds after every one of ${STEPS} seeded random actions; nothing is paid twice`,
    async () => {
      const random = prng(SEED);
      const rnd = () => random.next();
      const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
      const studies: { id: string; data: StudyData }[] = [];
      const accounts = new Set([ro.address, otherRo.address, w.treasury.address, ...holders.map((h) => h.address)]);
      const counts: Record<string, number> = {};
      // every holder registered (run alone, or after the tests above let one leave)
      for (const [i, h] of holders.entries())
        if ((await sh.holderOf(h.address))[0].listIndex === 0n)
          await send(as(h).register(`https://h${i}.example`, 10n * GIB, 1n, MIN_STAKE));
      // studies the tests above enrolled hold escrow too
      const earlier = (await sh.queryFilter(sh.filters.StudyEnrolled(), w.deployment.deployBlock)).map(
        (l) => (l as unknown as { args: { studyId: string } }).args.studyId,
      );
      const attempt = async (name: string, f: () => Promise<unknown>) => {
        try {
          await f();
          counts[`${name}:ok`] = (counts[`${name}:ok`] ?? 0) + 1;
        } catch (e) {
          const decoded = decodeThrownError(e);
          // only the contract's own refusals are expected: a panic or a failed call is a bug
          expect(decoded?.name, `${name}: ${String((e as Error).message).slice(0, 200)}`).toBeDefined();
          expect(decoded!.name).not.toBe('Panic');
          counts[`${name}:${decoded!.name}`] = (counts[`${name}:${decoded!.name}`] ?? 0) + 1;
        }
      };
      const check = async (step: number) => {
        const [balances, stakes, escrows, held] = await Promise.all([
          Promise.all([...accounts].map((a) => sh.balanceOf(a) as Promise<bigint>)),
          Promise.all(holders.map(async (h) => (await sh.holderOf(h.address))[0].stake as bigint)),
          Promise.all([...earlier, ...studies.map((s) => s.id)].map(async (id) => (await sh.studyOf(id)).escrow as bigint)),
          w.c.token.balanceOf(sh.target) as Promise<bigint>,
        ]);
        const sum = [...balances, ...stakes, ...escrows].reduce((a, b) => a + b, 0n);
        expect(sum, `conservation after step ${step}`).toBe(held);
      };
      type Rep = { holder: string; due: bigint; assignedPeriod: bigint };
      /** Mostly a replica that fits (so the run goes somewhere), sometimes any: then the contract must refuse. */
      const replicaWhere = async (fits: (r: Rep) => boolean) => {
        const all = await Promise.all(
          studies.flatMap((s) => [0, 1, 2].map(async (slot) => ({ s, slot, r: (await sh.replicaOf(s.id, slot)) as Rep }))),
        );
        const good = all.filter((x) => fits(x.r));
        return good.length && rnd() < 0.9 ? pick(good) : pick(all);
      };
      const actions: [number, () => Promise<void>][] = [
        [
          2,
          () =>
            attempt('enrol', async () => {
              const n = 1 + Math.floor(rnd() * 40);
              const data = randomStudy(n, 1 + Math.floor(rnd() * LEAF_BYTES));
              const id = await custodyStudy();
              studies.push({ id, data });
              await send(as(roAgent).enrol(id, data.root, n, FEE * BigInt(1 + Math.floor(rnd() * 3)), 3 + Math.floor(rnd() * 6)));
            }),
        ],
        [
          3,
          () =>
            attempt('assign', async () => {
              await mineBlocks(3);
              const pending = [];
              for (const x of studies) if ((await sh.studyOf(x.id)).assignBlock !== 0n) pending.push(x);
              await send(sh.assign((pending.length && rnd() < 0.9 ? pick(pending) : pick(studies)).id));
            }),
        ],
        [
          4,
          () =>
            attempt('confirm', async () => {
              const period = (await sh.currentPeriod()) as bigint;
              const { s, slot, r } = await replicaWhere((x) => x.holder !== ZeroAddress && x.due === 0n && x.assignedPeriod + 1n >= period);
              await send(as(wallet(r.holder === ZeroAddress ? holders[0].address : r.holder)).confirm(s.id, slot));
            }),
        ],
        [2, () => attempt('arm', () => armChallenge())],
        [
          10,
          () =>
            attempt('prove', async () => {
              const period = (await sh.currentPeriod()) as bigint;
              const { s, slot, r } = await replicaWhere((x) => x.holder !== ZeroAddress && x.due === period);
              if (rnd() < 0.8) await armChallenge();
              const h = wallet(r.holder === ZeroAddress ? holders[1].address : r.holder);
              const [, ready, index] = await sh.challengeOf(s.id, slot);
              const i = ready ? Number(index) : 0;
              const { leaf, siblings } = s.data.proof(i);
              const sent = Buffer.from(leaf);
              if (rnd() < 0.15) sent[0] ^= 1; // a holder that lost (or altered) the leaf
              await send(as(h).prove(s.id, slot, sent, siblings));
            }),
        ],
        [3, () => attempt('settle', () => send(sh.settle(pick(studies).id, Math.floor(rnd() * 3))))],
        [1, () => attempt('close', () => send(as(rnd() < 0.5 ? roAgent : holders[2]).close(pick(studies).id)))],
        [1, () => attempt('extend', () => send(as(roAgent).extend(pick(studies).id, 1)))],
        [1, () => attempt('deposit', () => send(as(ro).deposit(BigInt(1 + Math.floor(rnd() * 50)) * USD)))],
        [
          2,
          () =>
            attempt('withdraw', async () => {
              const h = pick([...holders, ro]);
              const b = (await sh.balanceOf(h.address)) as bigint;
              await send(as(h).withdraw(b === 0n ? 1n : b / 2n + 1n));
            }),
        ],
        [1, () => attempt('addStake', () => send(as(pick(holders)).addStake(SLASH)))],
        [2, () => nextPeriod().then(() => void (counts.period = (counts.period ?? 0) + 1))],
      ];
      const total = actions.reduce((n, [weight]) => n + weight, 0);
      for (let step = 0; step < STEPS; step++) {
        let x = rnd() * total;
        const [, act] = actions.find(([weight]) => (x -= weight) < 0) ?? actions[0];
        if (studies.length === 0) await actions[0][1]();
        else await act();
        await check(step);
      }
      // each (study, slot, period) paid once, and never more than its study escrowed
      const proven = await sh.queryFilter(sh.filters.StorageProven(), w.deployment.deployBlock);
      const keys = proven.map((l) => {
        const a = (l as unknown as { args: { studyId: string; slot: bigint; period: bigint } }).args;
        return `${a.studyId}/${a.slot}/${a.period}`;
      });
      expect(new Set(keys).size, 'each replica paid at most once per period').toBe(keys.length);
      for (const s of studies) {
        const enrolled = await sh.queryFilter(sh.filters.StudyEnrolled(s.id), w.deployment.deployBlock);
        const extended = await sh.queryFilter(sh.filters.StudyExtended(s.id), w.deployment.deployBlock);
        const funded = [...enrolled, ...extended].reduce(
          (n, l) => n + ((l as unknown as { args: { escrowed: bigint } }).args.escrowed ?? 0n),
          0n,
        );
        const paid = (await sh.queryFilter(sh.filters.StorageProven(s.id), w.deployment.deployBlock)).reduce(
          (n, l) => n + (l as unknown as { args: { fee: bigint } }).args.fee,
          0n,
        );
        expect(paid <= funded, `study ${s.id} paid ${paid} of ${funded}`).toBe(true);
      }
      console.log('storage holders fuzz outcomes:', JSON.stringify(counts));
      for (const k of ['enrol:ok', 'assign:ok', 'confirm:ok', 'prove:ok', 'settle:ok', 'close:ok'])
        expect(counts[k] ?? 0, k).toBeGreaterThan(0);
    },
    Math.max(180_000, STEPS * 1500),
  );
});
