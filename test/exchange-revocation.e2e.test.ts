/**
 * A patient's revocation of a study's custody, off chain (issues 14 and 17), on the whole stack over HTTP: the study is
 * linked through PatientLinks and its custody revoked by the patient's signature (relayed), after the oRO's RoAgent
 * granted one lease and while a second request waits. Then leasedStudy refuses the granted lease CUSTODY_REVOKED
 * (logged in the custodian's leaseAccessLog), openLease refuses the package it served before CUSTODY_REVOKED, the
 * agent denies the waiting request CUSTODY_REVOKED (refund, no grant sent), a new request is refused by the
 * contract, custodyOf shows the revocation's block time, and a clean re-index of the chain equals the stack's index;
 * a reorg that drops the revocation puts the custody back unrevoked, again equal to a clean index of the new branch.
 * The first refusals are made with the indexer stopped: the API reads the revocation from the node.
 */
import { randomBytes } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { Contract, Wallet, type TransactionReceipt } from 'ethers';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact, mined } from '#chain';
import { createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { DEV_ROLES } from '#devchain';
import { IndexerModule } from '#indexer';
import { LeaseRefusedError, LeaseStatus, RoAgent, generateX25519KeyPair, openLease } from '#lease';
import { catchUp, divergences, snapshot } from './support/indexing.js';
import { linkPatient, revokeCustody } from './support/patient-links.js';
import {
  LEASED,
  LEASES,
  MemoryHoldings,
  PREPARE_REQUEST,
  admissionDirectory,
  createExchangeRos,
  fundExchange,
  keyAdded,
  leasedPackage,
  registerHeldStudy,
  signedInClients,
  startRoAgent,
} from './support/exchange.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const PERIOD = 3600;
const ORO = DEV_ROLES.roDepositor; // the custodian RO's principal account
const NRO = DEV_ROLES.spare[1]; // the requesting RO
const RELAYER = DEV_ROLES.spare[2]; // submits the patient's signed link and revocation (the patient holds no ETH)
const ADMIN = DEV_ROLES.deployer;

const ACCESS_LOG = `query($ro: String!, $s: String!) { leaseAccessLog(roId: $ro, studyId: $s) { account outcome reason } }`;
const CUSTODY = `query($ro: String!, $s: String!) { custodyOf(roId: $ro, studyId: $s) { studyId ro revokedAt } }`;

const refusalOf = async (opening: Promise<unknown>) => {
  try {
    await opening;
    return 'opened';
  } catch (e) {
    if (e instanceof LeaseRefusedError) return e.reason;
    throw e;
  }
};

describe("a patient revokes a study's custody: the index, leasedStudy, openLease and the RO agent refuse its leases", () => {
  let stack: Stack;
  let ds: DataSource;
  let agent: RoAgent;
  const ids = { oro: '', nro: '' };
  const holdings = new MemoryHoldings();
  const oSigner = Wallet.createRandom();
  const nEnc = generateX25519KeyPair();
  let nKeyId: bigint;
  let study: string;
  let revocationBlock = 0;
  const plaintext = randomBytes(20_000);
  const w = (i: number) => devWallet(i, stack.provider);
  const custody = (i: number) => new Contract(stack.deployment.studyCustody, loadArtifact('StudyCustody').abi, w(i));
  const client = signedInClients(() => stack);
  const requested = (r: TransactionReceipt | null) =>
    r!.logs.map((l) => custody(NRO).interface.parseLog(l)).find((p) => p?.name === 'LeaseRequested')!.args.leaseId as bigint;

  beforeAll(async () => {
    stack = await startStack();
    ds = await createDataSource(stack.db.url).initialize();
    const admin = await client(ADMIN);
    Object.assign(
      ids,
      await createExchangeRos(admin, {
        oro: { name: 'Home Imaging', account: w(ORO).address },
        nro: { name: 'Far ER', account: w(NRO).address },
      }),
    );
    const d = await admissionDirectory(stack, w(ADMIN).address);
    const oKeyId = keyAdded(await mined(d.admitRo(w(ORO).address, generateX25519KeyPair().publicKey, oSigner.address)), d);
    nKeyId = keyAdded(await mined(d.admitRo(w(NRO).address, nEnc.publicKey, Wallet.createRandom().address)), d);

    study = await registerHeldStudy(stack, w(ORO), holdings, plaintext);
    await fundExchange(stack, w(NRO));

    agent = await startRoAgent(stack, ds, { sender: w(ORO), signer: oSigner, signerKeyId: oKeyId, holdings });
  });
  afterAll(async () => {
    await ds?.destroy();
    await stack?.stop();
  });

  it('refuses the lease, the package and the waiting request after the revocation; the index shows it', async () => {
    const nro = await client(NRO);
    const oro = await client(ORO);
    // before: a granted lease, served and opened to the original bytes
    const granted = requested(await mined(custody(NRO).requestLease(study, PERIOD, nKeyId, 0)));
    expect(await agent.poll()).toEqual([{ leaseId: granted, studyId: study, outcome: 'GRANTED' }]);
    const leaseId = granted.toString();
    await waitFor('the grant to be indexed', async () =>
      (await nro.ok(LEASES, { ro: ids.nro })).myLeases.some(
        (l: { leaseId: string; status: string }) => l.leaseId === leaseId && l.status === 'GRANTED',
      ),
    );
    const pkg = leasedPackage((await nro.ok(LEASED, { ro: ids.nro, l: leaseId })).leasedStudy);
    const open = () => openLease(stack.provider, { custody: stack.deployment.studyCustody }, pkg, nEnc.privateKey);
    expect((await open()).equals(plaintext)).toBe(true);
    // a second request the agent has not answered yet
    const waiting = requested(await mined(custody(NRO).requestLease(study, PERIOD, nKeyId, 0)));

    // the patient is linked to the study by its custodian and revokes the custody (both signed, relayed), while the
    // indexer is stopped: the index still shows the custody unrevoked
    await stack.indexer.close();
    let revokedAt = 0;
    try {
      const patient = await linkPatient(stack.deployment.patientLinks, w(ORO), w(RELAYER), study);
      const receipt = await revokeCustody(stack.deployment.patientLinks, w(RELAYER), patient);
      revokedAt = (await stack.provider.getBlock(receipt.blockNumber))!.timestamp;
      revocationBlock = receipt.blockNumber;
      expect(Number(await custody(ORO).revokedAt(study))).toBe(revokedAt);
      expect(await custody(ORO).isLeaseValid(granted)).toBe(false);
      expect((await oro.ok(CUSTODY, { ro: ids.oro, s: study })).custodyOf.revokedAt).toBeNull();

      // the granted lease has not expired and the lagging index has no revocation, yet the API refuses it: it reads
      // the revocation from the node
      const refused = await nro.send(LEASED, { ro: ids.nro, l: leaseId });
      expect(refused.errors?.[0]?.extensions?.code).toBe('CUSTODY_REVOKED');
      expect(refused.data?.leasedStudy ?? null).toBeNull();
      // the package served before the revocation no longer opens
      expect(await refusalOf(open())).toBe('CUSTODY_REVOKED');
    } finally {
      stack.indexer = await NestFactory.createApplicationContext(IndexerModule.forRoot(stack.config), { logger: ['error', 'warn'] });
      await stack.indexer.init();
    }

    // the agent denies the waiting request without sending a grant (the fee goes back to the requester)
    const balanceBefore = (await custody(NRO).balanceOf(w(NRO).address)) as bigint;
    expect(await agent.poll()).toEqual([{ leaseId: waiting, studyId: study, outcome: 'DENIED', reason: 'CUSTODY_REVOKED' }]);
    expect(Number((await custody(NRO).leaseOf(waiting)).status)).toBe(LeaseStatus.Denied);
    expect((await custody(NRO).balanceOf(w(NRO).address)) as bigint).toBeGreaterThan(balanceBefore);
    // a new request is refused by the contract (RevokedByPatient through the contract-error table)
    expect(await nro.code(PREPARE_REQUEST, { ro: ids.nro, s: study, k: nKeyId.toString(), p: PERIOD })).toBe('FORBIDDEN');

    // the index: the custody row stays, marked with the revocation's block time
    const record = await waitFor('the revocation to be indexed', async () => {
      const c = (await oro.ok(CUSTODY, { ro: ids.oro, s: study })).custodyOf;
      return c.revokedAt ? c : null;
    });
    expect(record).toEqual({ studyId: study, ro: w(ORO).address.toLowerCase(), revokedAt: new Date(revokedAt * 1000).toISOString() });
    // once indexed, still refused; each refusal is in the custodian's log with its reason
    expect(await nro.code(LEASED, { ro: ids.nro, l: leaseId })).toBe('CUSTODY_REVOKED');
    const nroAccount = w(NRO).address.toLowerCase();
    expect((await oro.ok(ACCESS_LOG, { ro: ids.oro, s: study })).leaseAccessLog).toEqual([
      { account: nroAccount, outcome: 'GRANTED', reason: null },
      { account: nroAccount, outcome: 'REFUSED', reason: 'CUSTODY_REVOKED' },
      { account: nroAccount, outcome: 'REFUSED', reason: 'CUSTODY_REVOKED' },
    ]);
  });

  /** The live index once it reached the chain's head, compared table by table with a clean index of the chain. */
  const compareWithCleanIndex = async () => {
    const head = await stack.provider.getBlockNumber();
    await waitFor('the live indexer to reach the head', async () =>
      (await snapshot(stack.db.url)).indexer_checkpoints.every((c) => Number(c.block_number) >= head),
    );
    const live = await snapshot(stack.db.url);
    const clean = await createTestDatabase();
    try {
      await catchUp({ ...stack.config, databaseUrl: clean.url });
      expect(divergences(await snapshot(clean.url), live)).toEqual([]);
    } finally {
      await clean.drop();
    }
    return live;
  };

  it('a clean re-index of the chain equals the live index, revocation included', async () => {
    const live = await compareWithCleanIndex();
    expect(live.exchange_custody.find((c) => c.study_id === study)).toMatchObject({
      revoked_at: expect.anything(),
      revoked_block: String(revocationBlock),
    });
  });

  it('a reorg that drops the revocation puts the custody back unrevoked, as a clean index of the new branch has it', async () => {
    const before = await stack.provider.getBlockNumber();
    // back to the block before the revocation, then a new branch with another transaction, longer than the old one
    await stack.provider.send('anvil_rollback', [before - revocationBlock + 1]);
    await mined(custody(NRO).deposit(1n));
    while ((await stack.provider.getBlockNumber()) < before + 1) await stack.provider.send('evm_mine', []);
    expect(Number(await custody(ORO).revokedAt(study))).toBe(0);
    const oro = await client(ORO);
    await waitFor('the reorg to be indexed', async () => (await oro.ok(CUSTODY, { ro: ids.oro, s: study })).custodyOf.revokedAt === null);
    const live = await compareWithCleanIndex();
    expect(live.exchange_custody.find((c) => c.study_id === study)).toMatchObject({ revoked_at: null, revoked_block: null });
  });
});
