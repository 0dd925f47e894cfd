import { randomBytes } from 'node:crypto';
import { Contract, MaxUint256, keccak256, toUtf8Bytes, type Signer, type TransactionReceipt } from 'ethers';
import type { DataSource } from 'typeorm';
import { loadArtifact, mined } from '#chain';
import { LeasePackageRepository } from '#db';
import { RoAgent, encryptPayload, generateStudyKey, generateX25519KeyPair, type ExchangeLeasePackage, type StudyHoldings } from '#lease';
import { GqlClient } from './client.js';
import { createRo } from './ro-flow.js';
import { Stack, devWallet } from './stack.js';

/** A signer that names its own address (a dev wallet, a random one). */
type Account = Signer & { address: string };

export const PREPARE_REQUEST = `mutation($ro: String!, $s: String!, $k: String!, $p: Int!) {
  prepareRequestStudyLease(roId: $ro, studyId: $s, keyId: $k, periodSeconds: $p) { from to data chainId gasLimit } }`;
export const LEASED = `query($ro: String!, $l: String!) { leasedStudy(roId: $ro, leaseId: $l) {
  leaseId studyId requester custodian recipientKeyId signerKeyId issuedAt expiresAt ciphertext wrappedKey signature } }`;
export const LEASES = `query($ro: String!) { myLeases(roId: $ro) { leaseId status } }`;

/** The oRO's own store of the studies it holds, each encrypted under its own study key (what RoAgent reads). */
export class MemoryHoldings implements StudyHoldings {
  readonly studies = new Map<string, { envelope: Buffer; studyKey: Buffer }>();
  add(studyId: string, plaintext: Buffer) {
    const studyKey = generateStudyKey();
    this.studies.set(studyId.toLowerCase(), { envelope: encryptPayload(plaintext, studyKey, studyId), studyKey });
  }
  async study(studyId: string) {
    return this.studies.get(studyId.toLowerCase()) ?? null;
  }
}

/** What `leasedStudy` answers (LEASED). */
export type Leased = Record<
  'leaseId' | 'studyId' | 'requester' | 'custodian' | 'recipientKeyId' | 'signerKeyId' | 'issuedAt' | 'expiresAt',
  string
> & { ciphertext: string; wrappedKey: string; signature: string };

/** What openLease takes, from leasedStudy's answer (the hashes are recomputed: openLease checks them against the chain). */
export function leasedPackage(l: Leased): ExchangeLeasePackage {
  const ciphertext = Buffer.from(l.ciphertext, 'base64');
  const wrappedKey = Buffer.from(l.wrappedKey, 'base64');
  return {
    terms: {
      leaseId: BigInt(l.leaseId),
      studyId: l.studyId,
      requester: l.requester,
      custodian: l.custodian,
      recipientKeyId: BigInt(l.recipientKeyId),
      signerKeyId: BigInt(l.signerKeyId),
      ciphertextHash: keccak256(ciphertext),
      wrappedKeyHash: keccak256(wrappedKey),
      issuedAt: BigInt(l.issuedAt),
      expiresAt: BigInt(l.expiresAt),
    },
    ciphertext,
    wrappedKey,
    signature: l.signature,
  };
}

/**
 * One signed-in API client per dev account, made on first use: each account signs in once per test file. Takes the
 * stack as a function because the stack starts in beforeAll, after the client cache is made.
 */
export function signedInClients(stack: () => Stack): (i: number) => Promise<GqlClient> {
  const clients = new Map<number, GqlClient>();
  return async (i) => {
    let c = clients.get(i);
    if (!c) {
      c = new GqlClient(stack().api);
      await c.signIn(devWallet(i, stack().provider));
      clients.set(i, c);
    }
    return c;
  };
}

/** The key ID RoDirectory gave the X25519 key of an admission (RoKeyAdded): the ID a lease request names. */
export const keyAdded = (r: TransactionReceipt | null, directory: Contract) =>
  r!.logs.map((l) => directory.interface.parseLog(l)).find((p) => p?.name === 'RoKeyAdded')!.args.keyId as bigint;

/**
 * An admin creates the exchange's ROs through the API, in the order given (each account its RO's only billing and
 * depositor member); returns their IDs by key.
 */
export async function createExchangeRos<K extends string>(
  admin: GqlClient,
  ros: Record<K, { name: string; account: string }>,
): Promise<Record<K, string>> {
  const ids = {} as Record<K, string>;
  for (const [key, { name, account }] of Object.entries(ros) as [K, { name: string; account: string }][])
    ids[key] = await createRo(admin, { name, publicKey: generateX25519KeyPair().publicKey, billing: [account], depositors: [account] });
  return ids;
}

/**
 * RoDirectory with the admission role granted to `admitter` (the stack's admin here; the DAO appoints it in npm
 * start), sent through the deployer's NonceManager, which the stack's other deployer transactions use.
 */
export async function admissionDirectory(stack: Stack, admitter: string): Promise<Contract> {
  const d = new Contract(stack.deployment.roDirectory, loadArtifact('RoDirectory').abi, stack.owner.token.runner);
  await mined(d.grantRole(await d.ADMISSION_ROLE(), admitter));
  return d;
}

/** An RO funds its exchange balance in StudyCustody: tokens minted to it, approved to the custody, `deposit` deposited. */
export async function fundExchange(stack: Stack, ro: Account, deposit = 100n * 10n ** 6n, allowance = MaxUint256): Promise<void> {
  await mined(stack.owner.token.mint(ro.address, 1_000n * 10n ** 6n));
  await mined((stack.owner.token.connect(ro) as Contract).approve(stack.deployment.studyCustody, allowance));
  await mined(custodyAs(stack, ro).deposit(deposit));
}

/** StudyCustody as sent by `signer`. */
export const custodyAs = (stack: Stack, signer: Signer) =>
  new Contract(stack.deployment.studyCustody, loadArtifact('StudyCustody').abi, signer);

/** The oRO registers a new study in custody (an ID the market's issuer issued) and keeps `plaintext` in its holdings. */
export async function registerHeldStudy(stack: Stack, oro: Account, holdings: MemoryHoldings, plaintext: Buffer): Promise<string> {
  const study = `0x${randomBytes(32).toString('hex')}`;
  await mined(custodyAs(stack, oro).registerStudy(study, keccak256(toUtf8Bytes('manifest')), ...stack.issued(oro.address, study)));
  holdings.add(study, plaintext);
  return study;
}

/** The oRO's RoAgent in process, granting every request (auto policy), its registration checked against the chain. */
export async function startRoAgent(
  stack: Stack,
  ds: DataSource,
  oro: { sender: Account; signer: Signer; signerKeyId: bigint; holdings: StudyHoldings },
): Promise<RoAgent> {
  const agent = new RoAgent({
    provider: stack.provider,
    chainId: stack.deployment.chainId,
    custody: stack.deployment.studyCustody,
    ro: oro.sender.address,
    sender: oro.sender,
    signer: oro.signer,
    signerKeyId: oro.signerKeyId,
    holdings: oro.holdings,
    store: new LeasePackageRepository(ds),
    policy: { mode: 'auto' },
  });
  await agent.checkRegistration();
  return agent;
}
