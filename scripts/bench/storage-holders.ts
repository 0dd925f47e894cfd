/**
 * Gas of StorageHolders (issue 16) for the gas table: register, enrol, assign, confirm, armChallenge, prove and
 * settle, for a 1 GiB study (2^20 leaves of 1 KiB: a proof has 20 siblings, the most a study of up to 1 GiB needs).
 *
 * The study's leaves are all one random 1 KiB leaf, so its root and every proof are computed in O(depth) instead of
 * hashing 1 GiB: the contract's work does not depend on the leaves' contents (the same SHA-256 calls, the same calldata
 * size as real ciphertext, which is incompressible like this random leaf).
 */
import { randomBytes } from 'node:crypto';
import {
  Contract,
  MaxUint256,
  ZeroAddress,
  hexlify,
  id as keccakId,
  HDNodeWallet,
  Mnemonic,
  type ContractTransactionResponse,
  type JsonRpcProvider,
} from 'ethers';
import { loadArtifact, mined } from '#chain';
import { ANVIL_MNEMONIC, increaseTime, mine, type Deployment } from '#devchain';
import { leafHash, nodeHash } from '#storage';

const USD = 1_000_000n;
const DEPTH = 20;

type Measure = (call: string, tx: Promise<ContractTransactionResponse>, note?: string) => Promise<void>;

export async function storageHoldersGas(
  provider: JsonRpcProvider,
  d: Deployment,
  owner: HDNodeWallet,
  ro: HDNodeWallet,
  issued: (studyId: string) => [bigint, string],
  measure: Measure,
): Promise<void> {
  const holders = Array.from({ length: 4 }, (_, i) =>
    HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${30 + i}`).connect(provider),
  );
  const token = new Contract(d.token, loadArtifact('TestUSD').abi, owner);
  const directory = new Contract(d.roDirectory, loadArtifact('RoDirectory').abi, owner);
  const custody = new Contract(d.studyCustody, loadArtifact('StudyCustody').abi, ro);
  const sh = new Contract(d.storageHolders, loadArtifact('StorageHolders').abi, owner);
  const as = (w: HDNodeWallet) => sh.connect(w) as Contract;
  const mineBlocks = async (n: number) => {
    for (let i = 0; i < n; i++) await mine(provider);
  };

  await mined(directory.grantRole(keccakId('ADMISSION_ROLE'), owner.address));
  await mined(directory.admitRo(ro.address, keccakId('x25519:bench-ro'), ro.address));
  await mined(token.mint(ro.address, 100_000n * USD));
  await mined((token.connect(ro) as Contract).approve(d.storageHolders, MaxUint256));
  for (const h of holders) {
    await provider.send('anvil_setBalance', [h.address, '0x56BC75E2D63100000']);
    await mined(token.mint(h.address, 1_000n * USD));
    await mined((token.connect(h) as Contract).approve(d.storageHolders, MaxUint256));
  }
  for (const [i, h] of holders.entries())
    await measure(
      i === 0 ? 'holders.register (first)' : 'holders.register',
      as(h).register(`https://holder-${i}.example.org/chunks`, 1n << 40n, 1n, 100n * USD),
      i === 0 ? 'endpoint 37 bytes, stake 100; first holder' : 'steady state',
    );
  await mined(as(ro).deposit(10_000n * USD));

  // 1 GiB of one repeated random leaf: the siblings are the roots of perfect subtrees of 2^k such leaves
  const leaf = randomBytes(1024);
  const siblings = [leafHash(leaf)];
  for (let k = 1; k < DEPTH; k++) siblings.push(nodeHash(siblings[k - 1], siblings[k - 1]));
  const root = nodeHash(siblings[DEPTH - 1], siblings[DEPTH - 1]);

  const studyId = keccakId('bench-storage-study');
  await mined(custody.registerStudy(studyId, keccakId('bench-manifest'), ...issued(studyId)));
  await measure(
    'holders.enrol (1 GiB)',
    as(ro).enrol(studyId, hexlify(root), 1n << 20n, 1n * USD, 365),
    '365 periods escrowed, draw armed',
  );
  await mineBlocks(3);
  await measure('holders.assign', sh.assign(studyId), 'draws 3 replicas among 4 holders');
  const assignedHolders = async () => Promise.all([0, 1, 2].map(async (slot) => (await sh.replicaOf(studyId, slot)).holder as string));
  let assigned = await assignedHolders();
  // a draw may leave a slot empty (MAX_PROBES misses): draw again, unmeasured
  for (let round = 0; assigned.includes(ZeroAddress) && round < 10; round++) {
    await mineBlocks(3);
    await mined(sh.assign(studyId));
    assigned = await assignedHolders();
  }
  const wallet = (a: string) => holders.find((h) => h.address === a)!;
  for (let slot = 0; slot < 3; slot++)
    await measure(slot === 0 ? 'holders.confirm' : 'holders.confirm (again)', as(wallet(assigned[slot])).confirm(studyId, slot));

  await increaseTime(provider, 86400);
  await measure('holders.armChallenge', as(holders[0]).armChallenge(), 'once per period, by anyone');
  await mineBlocks(3);
  for (let slot = 0; slot < 2; slot++) {
    const [, , index] = await sh.challengeOf(studyId, slot);
    expectIndex(index);
    await measure(
      slot === 0 ? 'holders.prove (1 GiB, first of period)' : 'holders.prove (1 GiB, first pay)',
      as(wallet(assigned[slot])).prove(studyId, slot, leaf, siblings),
      slot === 0 ? 'also fixes the period seed; first credit to a zero balance' : 'first credit to a zero balance',
    );
  }
  // slot 2 missed that period: the next period anyone settles it
  await increaseTime(provider, 86400);
  await measure('holders.settle (missed)', sh.settle(studyId, 2), 'slash to treasury, release, draw armed');
  // steady state: the period's seed already fixed by another proof, the holder's balance already non-zero
  await mined(as(holders[0]).armChallenge());
  await mineBlocks(3);
  for (let slot = 0; slot < 2; slot++) {
    const [, , index] = await sh.challengeOf(studyId, slot);
    expectIndex(index);
    const tx = as(wallet(assigned[slot])).prove(studyId, slot, leaf, siblings);
    if (slot === 0) await mined(tx);
    else await measure('holders.prove (1 GiB)', tx, 'steady state: depth 20, 1 KiB leaf, fee credited to a non-zero balance');
  }
}

function expectIndex(index: bigint) {
  if (index < 0n || index >= 1n << 20n) throw new Error(`challenge index ${index} out of range`);
}
