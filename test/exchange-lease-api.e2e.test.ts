/**
 * The exchange lease through the API (issue 14) on the whole stack over HTTP: the nRO prepares requestLease
 * (prepareRequestStudyLease) and relays it, the oRO's RoAgent grants it, the nRO fetches the package (leasedStudy)
 * and opens it against the chain (openLease) to the original bytes. Before the grant the fetch is LEASE_NOT_GRANTED,
 * for another RO FORBIDDEN, after expiry (chain time) LEASE_EXPIRED; every attempt is in the custodian's
 * leaseAccessLog. The custodian's prepared calls (deny, renew, report misuse) come back refused or ready as the
 * contract would answer.
 */
import { randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mined } from '#chain';
import { createDataSource } from '#db';
import { DEV_ROLES, increaseTime } from '#devchain';
import { RoAgent, generateX25519KeyPair, openLease } from '#lease';
import { signPrepared } from './support/client.js';
import { RELAY } from './support/ro-flow.js';
import {
  LEASED,
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
  type Leased,
} from './support/exchange.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const PERIOD = 300; // StudyCustody's shortest lease
const ORO = DEV_ROLES.roDepositor; // the custodian RO's principal account: depositor and billing
const NRO = DEV_ROLES.spare[1]; // the requesting RO
const OTHER = DEV_ROLES.spare[2]; // a third exchange RO
const ADMIN = DEV_ROLES.deployer; // the stack's admin and the directory's admission role

const ACCESS_LOG = `query($ro: String!, $s: String!) { leaseAccessLog(roId: $ro, studyId: $s) { studyId account outcome reason } }`;
const LEASES = `query($ro: String!) { myLeases(roId: $ro) { leaseId status misuseReported } }`;
const LEASE_CALL = (fn: string) =>
  `mutation($ro: String!, $l: String!) { ${fn}(roId: $ro, leaseId: $l) { from to data chainId gasLimit } }`;
const REPORT = `mutation($ro: String!, $l: String!, $a: String!) { prepareReportMisuse(roId: $ro, leaseId: $l, account: $a) { to data chainId gasLimit } }`;

describe('the exchange lease over the API: request, agent grant, fetch, expiry, access log', () => {
  let stack: Stack;
  let ds: DataSource;
  let agent: RoAgent;
  const ids = { oro: '', nro: '', other: '' };
  const holdings = new MemoryHoldings();
  const oSigner = Wallet.createRandom(); // the oRO's grant-signing key
  const nEnc = generateX25519KeyPair(); // the nRO's registered key: the lease key is sealed to it
  let nKeyId: bigint;
  let study: string;
  const plaintext = randomBytes(40_000);
  let leaseId: string;
  const w = (i: number) => devWallet(i, stack.provider);
  const client = signedInClients(() => stack);

  beforeAll(async () => {
    stack = await startStack();
    ds = await createDataSource(stack.db.url).initialize();
    const admin = await client(ADMIN);
    Object.assign(
      ids,
      await createExchangeRos(admin, {
        oro: { name: 'Home Imaging', account: w(ORO).address },
        nro: { name: 'Far ER', account: w(NRO).address },
        other: { name: 'Elsewhere Radiology', account: w(OTHER).address },
      }),
    );

    // the directory admits the three ROs, each with an X25519 key and a grant signer
    const d = await admissionDirectory(stack, w(ADMIN).address);
    const oKeyId = keyAdded(await mined(d.admitRo(w(ORO).address, generateX25519KeyPair().publicKey, oSigner.address)), d);
    nKeyId = keyAdded(await mined(d.admitRo(w(NRO).address, nEnc.publicKey, Wallet.createRandom().address)), d);
    await mined(d.admitRo(w(OTHER).address, generateX25519KeyPair().publicKey, Wallet.createRandom().address));

    // the oRO registers a study it holds; the nRO funds its exchange balance
    study = await registerHeldStudy(stack, w(ORO), holdings, plaintext);
    await fundExchange(stack, w(NRO));

    agent = await startRoAgent(stack, ds, { sender: w(ORO), signer: oSigner, signerKeyId: oKeyId, holdings });
  });
  afterAll(async () => {
    await ds?.destroy();
    await stack?.stop();
  });

  it('the nRO requests through a prepared transaction; the agent grants; leasedStudy opens to the original bytes', async () => {
    const nro = await client(NRO);
    // refusals before the chain is asked: input bounds, and a wallet that is no member of the RO named
    expect(await nro.code(PREPARE_REQUEST, { ro: ids.nro, s: study, k: nKeyId.toString(), p: 60 })).toBe('BAD_INPUT');
    expect(await (await client(OTHER)).code(PREPARE_REQUEST, { ro: ids.nro, s: study, k: nKeyId.toString(), p: PERIOD })).toBe('FORBIDDEN');
    // the contract's refusal through the contract-error table: the custodian cannot lease its own study
    expect(await (await client(ORO)).code(PREPARE_REQUEST, { ro: ids.oro, s: study, k: nKeyId.toString(), p: PERIOD })).toBe('BAD_INPUT');

    const tx = (await nro.ok(PREPARE_REQUEST, { ro: ids.nro, s: study, k: nKeyId.toString(), p: PERIOD })).prepareRequestStudyLease;
    expect([tx.from, tx.to.toLowerCase()]).toEqual([w(NRO).address.toLowerCase(), stack.deployment.studyCustody.toLowerCase()]);
    expect((await nro.ok(RELAY, { tx: await signPrepared(w(NRO), tx) })).relayTransaction.function).toBe('requestLease');
    leaseId = await waitFor('the request to be indexed', async () => (await nro.ok(LEASES, { ro: ids.nro })).myLeases[0]?.leaseId);

    // not granted yet: refused with its code (and logged)
    expect(await nro.code(LEASED, { ro: ids.nro, l: leaseId })).toBe('LEASE_NOT_GRANTED');

    expect(await agent.poll()).toEqual([{ leaseId: BigInt(leaseId), studyId: study, outcome: 'GRANTED' }]);
    await waitFor('the grant to be indexed', async () => (await nro.ok(LEASES, { ro: ids.nro })).myLeases[0].status === 'GRANTED');
    const leased: Leased = (await nro.ok(LEASED, { ro: ids.nro, l: leaseId })).leasedStudy;
    expect(leased).toMatchObject({
      leaseId,
      studyId: study,
      requester: w(NRO).address.toLowerCase(),
      custodian: w(ORO).address.toLowerCase(),
    });
    const opened = await openLease(stack.provider, { custody: stack.deployment.studyCustody }, leasedPackage(leased), nEnc.privateKey);
    expect(opened.equals(plaintext)).toBe(true);
  });

  it('refuses another RO (FORBIDDEN) and, after expiry by chain time, the requester (LEASE_EXPIRED); the custodian sees each attempt', async () => {
    const other = await client(OTHER);
    expect(await other.code(LEASED, { ro: ids.other, l: leaseId })).toBe('FORBIDDEN'); // an exchange RO, not the lessee
    expect(await other.code(LEASED, { ro: ids.nro, l: leaseId })).toBe('FORBIDDEN'); // not a member of the lessee
    expect(await other.code(LEASED, { ro: ids.other, l: '999' })).toBe('FORBIDDEN'); // no such lease: no probing

    const oro = await client(ORO);
    // the custodian cannot deny a granted lease, nor report misuse of one that still runs
    expect(await oro.code(LEASE_CALL('prepareDenyLease'), { ro: ids.oro, l: leaseId })).toBe('CONFLICT');
    expect(await oro.code(REPORT, { ro: ids.oro, l: leaseId, a: w(NRO).address })).toBe('CONFLICT');

    await increaseTime(stack.provider, PERIOD + 1);
    const nro = await client(NRO);
    const refused = await nro.send(LEASED, { ro: ids.nro, l: leaseId });
    expect(refused.errors?.[0]?.extensions?.code).toBe('LEASE_EXPIRED');
    expect(refused.data?.leasedStudy ?? null).toBeNull();

    const nroAccount = w(NRO).address.toLowerCase();
    expect((await oro.ok(ACCESS_LOG, { ro: ids.oro, s: study })).leaseAccessLog).toEqual([
      { studyId: study, account: nroAccount, outcome: 'REFUSED', reason: 'LEASE_NOT_GRANTED' },
      { studyId: study, account: nroAccount, outcome: 'GRANTED', reason: null },
      { studyId: study, account: w(OTHER).address.toLowerCase(), outcome: 'REFUSED', reason: 'NOT_REQUESTER' },
      { studyId: study, account: nroAccount, outcome: 'REFUSED', reason: 'LEASE_EXPIRED' },
    ]);
    // the log is the custodian's: the requester and a third RO are refused it
    expect(await nro.code(ACCESS_LOG, { ro: ids.nro, s: study })).toBe('FORBIDDEN');
    expect(await other.code(ACCESS_LOG, { ro: ids.other, s: study })).toBe('FORBIDDEN');

    // the custodian reports the expired use on chain with the prepared call, which the index then shows
    const report = (await oro.ok(REPORT, { ro: ids.oro, l: leaseId, a: nroAccount })).prepareReportMisuse;
    expect((await oro.ok(RELAY, { tx: await signPrepared(w(ORO), report) })).relayTransaction.function).toBe('reportMisuse');
    await waitFor('the report to be indexed', async () => (await nro.ok(LEASES, { ro: ids.nro })).myLeases[0].misuseReported);
    // a renewal the requester did not allow (maxRenewals 0) is refused
    expect(await oro.code(LEASE_CALL('prepareRenewLease'), { ro: ids.oro, l: leaseId })).toBe('CONFLICT');
    // a requester cannot cancel a granted lease
    expect(await nro.code(LEASE_CALL('prepareCancelLeaseRequest'), { ro: ids.nro, l: leaseId })).toBe('CONFLICT');
  });

  it('a lease the custodian renews after expiry (prepareRenewLease) is served again while the renewal runs', async () => {
    const nro = await client(NRO);
    const oro = await client(ORO);
    const request = `mutation($ro: String!, $s: String!, $k: String!) {
      prepareRequestStudyLease(roId: $ro, studyId: $s, keyId: $k, periodSeconds: ${PERIOD}, maxRenewals: 1) { to data chainId gasLimit } }`;
    const tx = (await nro.ok(request, { ro: ids.nro, s: study, k: nKeyId.toString() })).prepareRequestStudyLease;
    await nro.ok(RELAY, { tx: await signPrepared(w(NRO), tx) });
    const [granted] = await agent.poll();
    expect(granted.outcome).toBe('GRANTED');
    const renewable = granted.leaseId.toString();
    await waitFor('the grant to be indexed', async () => (await nro.ok(LEASES, { ro: ids.nro })).myLeases[0].status === 'GRANTED');
    await increaseTime(stack.provider, PERIOD + 1);
    expect(await nro.code(LEASED, { ro: ids.nro, l: renewable })).toBe('LEASE_EXPIRED');

    const renew = (await oro.ok(LEASE_CALL('prepareRenewLease'), { ro: ids.oro, l: renewable })).prepareRenewLease;
    expect((await oro.ok(RELAY, { tx: await signPrepared(w(ORO), renew) })).relayTransaction.function).toBe('renewLease');
    await waitFor('the renewal to be indexed', async () => (await nro.ok(LEASES, { ro: ids.nro })).myLeases[0].status === 'RENEWED');
    const leased: Leased = (await nro.ok(LEASED, { ro: ids.nro, l: renewable })).leasedStudy;
    const opened = await openLease(stack.provider, { custody: stack.deployment.studyCustody }, leasedPackage(leased), nEnc.privateKey);
    expect(opened.equals(plaintext)).toBe(true);
  });
});
