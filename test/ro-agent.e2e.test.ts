/**
 * The exchange lease on a real chain (anvil, the contracts as the test stack deploys them) and real Postgres (the
 * package store): two admitted ROs, the oRO registers a study it holds, the nRO requests a lease with the fee
 * escrowed, the oRO's agent (RoAgent of #lease) grants by policy, and the nRO opens the package against the chain:
 * the study byte for byte; every tampered part refused with its reason; a study the agent does not hold denied
 * (refund); a manual policy queues until approved; after expiry (chain time) LEASE_EXPIRED, until a renewal.
 */
import { randomBytes } from 'node:crypto';
import {
  Contract,
  MaxUint256,
  Wallet,
  id as keccakId,
  keccak256,
  type JsonRpcProvider,
  type Signer,
  type TransactionReceipt,
} from 'ethers';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvider, issuanceArgs, issueStudyId, loadArtifact, mined } from '#chain';
import { LeasePackageRepository, createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { DEV_ROLES, contracts, devKey, increaseTime, startAnvil, type AnvilHandle } from '#devchain';
import {
  LeaseRefusedError,
  RoAgent,
  decryptUnder,
  exchangeLeaseContext,
  exchangeLeaseDomain,
  exchangeLeaseKeyContext,
  generateX25519KeyPair,
  openLease,
  openSealed,
  sealExchangeLease,
  signExchangeLease,
  signedPackage,
  type ExchangeLeasePackage,
  type LeaseRefusal,
} from '#lease';
import { deployForTests } from './support/deploy.js';
import { MemoryHoldings } from './support/exchange.js';
import { waitFor } from './support/stack.js';

const HOUR = 3600;
const ADMISSION_ROLE = keccakId('ADMISSION_ROLE');

describe('the exchange lease between two ROs, granted by the oRO agent', () => {
  let anvil: AnvilHandle;
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  let provider: JsonRpcProvider;
  let chainId: number;
  let custodyAddress: string;
  let custody: Contract;
  let directory: Contract;
  let store: LeasePackageRepository;
  const wallet = (i: number) => devKey(i).connect(provider);
  // who is who (dev account numbers): the RO accounts pay their own gas, the keys are fresh
  const O_RO = DEV_ROLES.roDepositor;
  const [N_RO, O_AGENT, ADMITTER, THIRD_RO] = DEV_ROLES.spare;
  const oSigner = Wallet.createRandom(); // the oRO's registered grant-signing key
  const oEnc = generateX25519KeyPair();
  const nEnc = generateX25519KeyPair(); // the nRO's registered key: the lease key is wrapped to it
  const nSigner = Wallet.createRandom();
  const thirdSigner = Wallet.createRandom();
  let oKeyId: bigint, nKeyId: bigint, thirdKeyId: bigint;
  const holdings = new MemoryHoldings();
  const as = (c: Contract, i: number) => c.connect(wallet(i)) as Contract;
  const eventOf = (r: TransactionReceipt, c: Contract, name: string) =>
    r.logs
      .filter((l) => l.address.toLowerCase() === String(c.target).toLowerCase())
      .map((l) => c.interface.parseLog(l)!)
      .find((p) => p.name === name)!.args;
  /** What the agents logged, to check no key or study content reaches a log line. */
  const logged: string[] = [];
  const logger = { log: (m: string) => logged.push(m), warn: (m: string) => logged.push(m) };
  const agentOf = (policy: 'auto' | 'manual') =>
    new RoAgent({
      logger,
      provider,
      chainId,
      custody: custodyAddress,
      ro: devKey(O_RO).address,
      sender: wallet(O_AGENT),
      signer: oSigner,
      signerKeyId: oKeyId,
      holdings,
      store,
      policy: { mode: policy },
    });

  async function registerStudy(plaintext: Buffer | null): Promise<string> {
    const studyId = `0x${randomBytes(32).toString('hex')}`;
    const issuance = issueStudyId(
      devKey(DEV_ROLES.studyIdIssuer).privateKey,
      await custody.market(),
      chainId,
      devKey(O_RO).address,
      studyId,
    );
    await mined(as(custody, O_RO).registerStudy(studyId, keccak256(Buffer.from(`manifest ${studyId}`)), ...issuanceArgs(issuance)));
    if (plaintext) holdings.add(studyId, plaintext);
    return studyId;
  }
  async function requestLease(studyId: string, period = HOUR, maxRenewals = 0): Promise<bigint> {
    const r = await mined(as(custody, N_RO).requestLease(studyId, period, nKeyId, maxRenewals));
    return eventOf(r, custody, 'LeaseRequested').leaseId as bigint;
  }
  const fetchPackage = async (leaseId: bigint) => signedPackage(await store.package(chainId, leaseId));
  const open = (pkg: ExchangeLeasePackage, privateKey = nEnc.privateKey) =>
    openLease(provider, { custody: custodyAddress }, pkg, privateKey);
  async function refusal(pkg: ExchangeLeasePackage): Promise<LeaseRefusal | 'opened'> {
    try {
      await open(pkg);
      return 'opened';
    } catch (e) {
      if (e instanceof LeaseRefusedError) return e.reason;
      throw e;
    }
  }
  const resign = (pkg: ExchangeLeasePackage, terms: ExchangeLeasePackage['terms'], signer: Signer) =>
    signExchangeLease(signer, exchangeLeaseDomain(chainId, custodyAddress), terms).then((signature) => ({ ...pkg, terms, signature }));

  beforeAll(async () => {
    [anvil, testDb] = await Promise.all([startAnvil({ args: ['--accounts', '20'] }), createTestDatabase()]);
    ds = await createDataSource(testDb.url).initialize();
    store = new LeasePackageRepository(ds);
    provider = createProvider(anvil.rpcUrl);
    const { deployer, deployment } = await deployForTests(provider);
    chainId = deployment.chainId;
    custodyAddress = deployment.studyCustody;
    custody = new Contract(custodyAddress, loadArtifact('StudyCustody').abi, provider);
    directory = new Contract(deployment.roDirectory, loadArtifact('RoDirectory').abi, provider);
    // admission: the directory's admin (the deployer here; the DAO timelock after deployGovernance) appoints an
    // admitter, which admits the ROs with their first key pair
    await mined((directory.connect(deployer) as Contract).grantRole(ADMISSION_ROLE, devKey(ADMITTER).address));
    const admit = async (ro: number, enc: string, signer: string) =>
      eventOf(await mined(as(directory, ADMITTER).admitRo(devKey(ro).address, enc, signer)), directory, 'RoKeyAdded').keyId as bigint;
    oKeyId = await admit(O_RO, oEnc.publicKey, oSigner.address);
    nKeyId = await admit(N_RO, nEnc.publicKey, nSigner.address);
    thirdKeyId = await admit(THIRD_RO, generateX25519KeyPair().publicKey, thirdSigner.address);
    await mined(as(directory, O_RO).addAccount(devKey(O_AGENT).address));
    // the nRO funds its deposit in StudyCustody
    const { token } = contracts(deployment, deployer);
    await mined(token.mint(devKey(N_RO).address, 1_000n * 10n ** 6n));
    await mined(as(token, N_RO).approve(custodyAddress, MaxUint256));
    await mined(as(custody, N_RO).deposit(1_000n * 10n ** 6n));
  });
  afterAll(async () => {
    await ds?.destroy();
    await testDb?.drop();
    await anvil?.stop();
  });

  it('grants automatically to an admitted RO; the nRO checks the package against the chain and reads the study', async () => {
    const agent = agentOf('auto');
    await agent.checkRegistration();
    const study = randomBytes(50_000);
    const studyId = await registerStudy(study);
    const [fee] = (await custody.fees()) as [bigint];
    const before = (await custody.balanceOf(devKey(N_RO).address)) as bigint;
    const leaseId = await requestLease(studyId);
    expect(await custody.balanceOf(devKey(N_RO).address)).toBe(before - fee);

    const oBefore = (await custody.balanceOf(devKey(O_RO).address)) as bigint;
    expect(await agent.poll()).toEqual([{ leaseId, studyId, outcome: 'GRANTED' }]);
    expect(await agent.poll()).toEqual([]); // nothing new
    // the fee is paid at grant: the oRO's share (what the protocol fee and the storage share leave) to its principal
    const [, protocolBps, storageBps] = (await custody.fees()) as [bigint, bigint, bigint];
    expect(await custody.balanceOf(devKey(O_RO).address)).toBe(
      oBefore + fee - (fee * protocolBps) / 10_000n - (fee * storageBps) / 10_000n,
    );
    const lease = await custody.leaseOf(leaseId);
    expect(lease.status).toBe(2n);
    const pkg = (await fetchPackage(leaseId))!;
    expect(pkg.terms.expiresAt).toBe(lease.expiresAt);
    expect(keccak256(pkg.ciphertext)).toBe(lease.ciphertextHash);
    expect(keccak256(pkg.wrappedKey)).toBe(lease.wrappedKeyHash);
    expect((await open(pkg)).equals(study)).toBe(true);
    // the oRO's study envelope is not what the nRO received: the study was re-encrypted under the lease key
    expect(pkg.ciphertext.equals(holdings.studies.get(studyId)!.envelope)).toBe(false);

    // a second lease of the same study has its own key: lease 1's key does not open lease 2's ciphertext
    const second = await requestLease(studyId);
    expect((await agent.poll()).map((d) => d.outcome)).toEqual(['GRANTED']);
    const pkg2 = (await fetchPackage(second))!;
    expect((await open(pkg2)).equals(study)).toBe(true);
    const key1 = openSealed(
      nEnc.privateKey,
      pkg.wrappedKey,
      exchangeLeaseKeyContext(chainId, custodyAddress, leaseId, studyId, devKey(N_RO).address, nKeyId),
    ).subarray(0, 32);
    expect(() => decryptUnder(key1, pkg2.ciphertext, exchangeLeaseContext(chainId, custodyAddress, second, studyId))).toThrow();
    expect(() => decryptUnder(key1, pkg2.ciphertext, exchangeLeaseContext(chainId, custodyAddress, leaseId, studyId))).toThrow();

    // neither the lease key nor any of the study is in the grant's calldata, its events or the agent's log lines
    const grantLog = (await provider.getLogs({ address: custodyAddress, fromBlock: 0 })).find(
      (l) => custody.interface.parseLog(l)?.name === 'LeaseGranted' && custody.interface.parseLog(l)!.args.leaseId === leaseId,
    )!;
    const receipt = (await provider.getTransactionReceipt(grantLog.transactionHash))!;
    const onChain = [
      (await provider.getTransaction(grantLog.transactionHash))!.data,
      ...receipt.logs.map((l) => l.data + l.topics.join('')),
    ].join('');
    expect(logged.some((m) => m.includes(`lease ${leaseId} `))).toBe(true);
    for (const text of [onChain, logged.join('\n')]) {
      expect(text).not.toContain(key1.toString('hex'));
      expect(text).not.toContain(study.subarray(0, 16).toString('hex'));
      expect(text).not.toContain(nEnc.privateKey.slice(2));
    }
  });

  it('refuses each tampered part of a package, judged against the chain', async () => {
    const agent = agentOf('auto');
    const studyId = await registerStudy(randomBytes(2_000));
    const leaseId = await requestLease(studyId);
    await agent.poll();
    const pkg = (await fetchPackage(leaseId))!;
    expect(await refusal(pkg)).toBe('opened');
    const flipped = Buffer.from(pkg.ciphertext);
    flipped[30] ^= 1;
    expect(await refusal({ ...pkg, ciphertext: flipped })).toBe('CIPHERTEXT_MISMATCH');
    expect(await refusal({ ...pkg, wrappedKey: (await fetchPackage(leaseId - 1n))!.wrappedKey })).toBe('WRAPPED_KEY_MISMATCH');
    // terms: a later expiry, another requester (even re-signed by the oRO's own key: the chain disagrees)
    expect(await refusal(await resign(pkg, { ...pkg.terms, expiresAt: pkg.terms.expiresAt + 86_400n }, oSigner))).toBe('TERMS_MISMATCH');
    expect(await refusal({ ...pkg, terms: { ...pkg.terms, requester: devKey(THIRD_RO).address } })).toBe('TERMS_MISMATCH');
    // signatures: altered, by an unregistered key, by another RO's registered key, under an unknown key ID
    const sig = pkg.signature;
    expect(await refusal({ ...pkg, signature: sig.slice(0, 20) + (sig[20] === 'a' ? 'b' : 'a') + sig.slice(21) })).toBe(
      'SIGNATURE_INVALID',
    );
    expect(await refusal(await resign(pkg, pkg.terms, Wallet.createRandom()))).toBe('SIGNATURE_INVALID');
    expect(await refusal(await resign(pkg, { ...pkg.terms, signerKeyId: thirdKeyId }, thirdSigner))).toBe('SIGNER_NOT_CUSTODIAN');
    expect(await refusal(await resign(pkg, { ...pkg.terms, signerKeyId: 999n }, oSigner))).toBe('SIGNER_UNKNOWN');
    // a second signing key of the oRO signs validly until the oRO revokes it on chain
    const oSigner2 = Wallet.createRandom();
    const added = await mined(as(directory, O_RO).addKey(oEnc.publicKey, oSigner2.address));
    const key2 = eventOf(added, directory, 'RoKeyAdded').keyId as bigint;
    const bySecond = await resign(pkg, { ...pkg.terms, signerKeyId: key2 }, oSigner2);
    expect(await refusal(bySecond)).toBe('opened');
    await mined(as(directory, O_RO).revokeKey(key2));
    expect(await refusal(bySecond)).toBe('SIGNER_REVOKED');
    // the wrong private key (not the requester's registered one)
    await expect(open(pkg, oEnc.privateKey)).rejects.toMatchObject({ reason: 'NOT_RECIPIENT' });
    // a lease the chain has not granted
    expect(await refusal({ ...pkg, terms: { ...pkg.terms, leaseId: 10_000n } })).toBe('LEASE_NOT_GRANTED');
  });

  it('denies a study it does not hold (fee refunded), a suspended requester, a revoked requester key; queues under a manual policy', async () => {
    const auto = agentOf('auto');
    const manual = agentOf('manual');
    await auto.poll();
    await manual.poll(); // catches up: what the chain shows answered is skipped
    expect(manual.pending()).toEqual([]);
    const notHeld = await registerStudy(null);
    const balance = (await custody.balanceOf(devKey(N_RO).address)) as bigint;
    const denied = await requestLease(notHeld);
    expect(await auto.poll()).toEqual([{ leaseId: denied, studyId: notHeld, outcome: 'DENIED', reason: 'NOT_HELD' }]);
    expect((await custody.leaseOf(denied)).status).toBe(3n);
    expect(await custody.balanceOf(devKey(N_RO).address)).toBe(balance);
    expect(await manual.poll()).toEqual([{ leaseId: denied, studyId: notHeld, outcome: 'SKIPPED', reason: 'ALREADY_ANSWERED' }]);

    // a requester suspended, or a requester key revoked, after the request: denied
    const held = await registerStudy(randomBytes(500));
    const whileSuspended = await requestLease(held);
    await mined(as(directory, ADMITTER).setSuspended(devKey(N_RO).address, true));
    expect(await auto.poll()).toEqual([{ leaseId: whileSuspended, studyId: held, outcome: 'DENIED', reason: 'REQUESTER_NOT_ACTIVE' }]);
    await mined(as(directory, ADMITTER).setSuspended(devKey(N_RO).address, false));
    const spareKey = eventOf(await mined(as(directory, N_RO).addKey(nEnc.publicKey, nSigner.address)), directory, 'RoKeyAdded')
      .keyId as bigint;
    const toRevoked = eventOf(await mined(as(custody, N_RO).requestLease(held, HOUR, spareKey, 0)), custody, 'LeaseRequested')
      .leaseId as bigint;
    await mined(as(directory, N_RO).revokeKey(spareKey));
    expect(await auto.poll()).toEqual([{ leaseId: toRevoked, studyId: held, outcome: 'DENIED', reason: 'REQUESTER_KEY_NOT_LIVE' }]);
    await manual.poll();

    const study = randomBytes(1_000);
    const studyId = await registerStudy(study);
    const queued = await requestLease(studyId);
    expect(await manual.poll()).toEqual([{ leaseId: queued, studyId, outcome: 'QUEUED' }]);
    expect(manual.pending()).toEqual([queued]);
    expect((await custody.leaseOf(queued)).status).toBe(1n);
    expect(await manual.approve(queued)).toEqual({ leaseId: queued, studyId, outcome: 'GRANTED' });
    expect((await open((await fetchPackage(queued))!)).equals(study)).toBe(true);
    const rejected = await requestLease(studyId);
    await manual.poll();
    expect(await manual.reject(rejected)).toEqual({ leaseId: rejected, studyId, outcome: 'DENIED', reason: 'REJECTED' });
    expect(await store.package(chainId, rejected)).toBeNull();
  });

  it('finishes, after a restart, a grant it had sealed and sent but not signed', async () => {
    const study = randomBytes(3_000);
    const studyId = await registerStudy(study);
    const leaseId = await requestLease(studyId);
    // what an agent that stopped between grantLease and signing leaves: the sealed package stored, the grant on chain
    const held = (await holdings.study(studyId))!;
    const lease = {
      leaseId,
      studyId,
      requester: devKey(N_RO).address,
      recipientKeyId: nKeyId,
      custodian: devKey(O_RO).address,
      signerKeyId: oKeyId,
    };
    const sealed = sealExchangeLease({
      ...lease,
      chainId,
      custody: custodyAddress,
      recipientPublicKey: nEnc.publicKey,
      studyEnvelope: held.envelope,
      studyKey: held.studyKey,
      issuedAt: BigInt((await provider.getBlock('latest'))!.timestamp),
    });
    await store.storeSealed(chainId, { ...lease, issuedAt: sealed.issuedAt, ciphertext: sealed.ciphertext, wrappedKey: sealed.wrappedKey });
    await mined(as(custody, O_AGENT).grantLease(leaseId, sealed.wrappedKeyHash, sealed.ciphertextHash));
    expect(await fetchPackage(leaseId)).toBeNull();

    const restarted = agentOf('auto');
    const decisions = await restarted.poll();
    expect(decisions.find((d) => d.leaseId === leaseId)).toEqual({
      leaseId,
      studyId,
      outcome: 'GRANTED',
      reason: 'COMPLETED_AFTER_RESTART',
    });
    expect(decisions.filter((d) => d.reason === 'COMPLETED_AFTER_RESTART')).toHaveLength(1);
    expect((await open((await fetchPackage(leaseId))!)).equals(study)).toBe(true);
  });

  it('grants on its own timer; refuses an expired lease with LEASE_EXPIRED (chain time) until the oRO renews it', async () => {
    const agent = agentOf('auto');
    await agent.poll();
    agent.start(100);
    try {
      const studyId = await registerStudy(randomBytes(1_000));
      const leaseId = await requestLease(studyId, 5 * 60, 1);
      const pkg = await waitFor('the agent to grant and sign', () => fetchPackage(leaseId));
      expect(await refusal(pkg)).toBe('opened');
      const { expiresAt } = await custody.leaseOf(leaseId);
      const now = BigInt((await provider.getBlock('latest'))!.timestamp);
      await increaseTime(provider, expiresAt - now + 1n);
      expect(await refusal(pkg)).toBe('LEASE_EXPIRED');
      // a renewal (one the nRO allowed at request) moves the expiry on chain: the same package opens again
      await mined(as(custody, O_AGENT).renewLease(leaseId));
      expect(await refusal(pkg)).toBe('opened');
    } finally {
      await agent.stop();
    }
  });
});
