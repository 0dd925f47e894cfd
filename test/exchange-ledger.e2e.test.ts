import { randomBytes } from 'node:crypto';
import { Contract, hexlify, keccak256, toUtf8Bytes } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact, mined } from '#chain';
import { DEV_ROLES, increaseTime, latestTimestamp } from '#devchain';
import { GqlClient } from './support/client.js';
import { parseCsv } from './support/csv.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';
import { admissionDirectory, createExchangeRos, signedInClients } from './support/exchange.js';

/**
 * The imaging exchange's reads and money (issue 14) on the whole stack: an nRO requests leases of a study the oRO
 * holds in StudyCustody; a grant pays the oRO, the treasury and the storage share out of the escrow, a denial refunds;
 * the indexer projects it, both ROs' ledgers, CSVs and reconciliations show it with no discrepancy, and the GraphQL
 * reads are scoped to each RO's own members.
 */
const USD = 1_000_000n;
const FEE = 10n * USD; // StudyCustody's default retrieval fee: 10 % protocol, 10 % storage share
const ORO = DEV_ROLES.roDepositor; // the home RO's principal account: its depositor and billing staff
const NRO = DEV_ROLES.spare[1]; // the emergency room's RO: depositor and billing
const OTHER = DEV_ROLES.spare[2]; // an RO of the platform that is not in the exchange
const ADMIN = DEV_ROLES.deployer; // the test stack's admin and the directory's admission role
const TREASURY = DEV_ROLES.treasuryOwners[0]; // the test stack's treasury

const RECON = `query($ro: String!, $from: DateTime!, $to: DateTime!) { reconciliation(roId: $ro, from: $from, to: $to) {
  balanceIdentityHolds escrowIdentityHolds opening { balance escrow } closing { balance escrow }
  chain { exchangeDeposits leaseEscrowed leasePayments leaseProtocolFees leaseStorageShares leaseRefunds leaseIncome otherCredits tokenIn }
  ledger { exchangeDeposits leaseEscrowed leasePayments leaseProtocolFees leaseStorageShares leaseRefunds leaseIncome }
  discrepancies { kind entryKind detail } } }`;
const LEASES = `query($ro: String!) { myLeases(roId: $ro) { leaseId studyId requester custodian keyId status fee paidToCustodian protocolFees
  storageShare refund expiresAt wrappedKeyHash ciphertextHash renewals } }`;
const INCOMING = `query($ro: String!) { incomingLeaseRequests(roId: $ro) { leaseId status requester custodian } }`;
const CUSTODY = `query($ro: String!, $s: String!) { custodyOf(roId: $ro, studyId: $s) { studyId ro manifestHash history { ro fromRo } } }`;

describe('the imaging exchange: indexed leases, fees in both ROs’ ledgers and reconciliations', () => {
  let stack: Stack;
  const ids = { oro: '', nro: '', other: '' };
  let study: string;
  let period: { from: string; to: string };
  let grantBlock: number;
  let db: pg.Client;
  const query = async (text: string, values: unknown[] = []) => (await db.query(text, values)).rows;
  const w = (i: number) => devWallet(i, stack.provider);
  const custody = (i: number) => new Contract(stack.deployment.studyCustody, loadArtifact('StudyCustody').abi, w(i));
  const client = signedInClients(() => stack);

  beforeAll(async () => {
    stack = await startStack();
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    const admin = await client(ADMIN);
    Object.assign(
      ids,
      await createExchangeRos(admin, {
        oro: { name: 'Home Imaging', account: w(ORO).address },
        nro: { name: 'Far ER', account: w(NRO).address },
        other: { name: 'Elsewhere Radiology', account: w(OTHER).address },
      }),
    );

    // the directory: the admission role (the deployer here; the DAO appoints it in npm start) admits both ROs with a key
    // (through the deployer's NonceManager, which the stack's other deployer transactions use)
    const d = await admissionDirectory(stack, w(ADMIN).address);
    await mined(d.admitRo(w(ORO).address, hexlify(randomBytes(32)), w(ORO).address));
    await mined(d.admitRo(w(NRO).address, hexlify(randomBytes(32)), w(NRO).address));
    // the oRO registers a study in custody, with an ID the market's issuer issued
    study = hexlify(randomBytes(32));
    await mined(custody(ORO).registerStudy(study, keccak256(toUtf8Bytes('manifest')), ...stack.issued(w(ORO).address, study)));
    period = { from: new Date((await latestTimestamp(stack.provider)) * 1000 + 1000).toISOString(), to: '' };
    await increaseTime(stack.provider, 5);

    // the period: the nRO funds its exchange balance and requests two leases; the oRO grants one and denies the other
    await mined(stack.owner.token.mint(w(NRO).address, 1_000n * USD));
    await mined((stack.owner.token.connect(w(NRO)) as Contract).approve(stack.deployment.studyCustody, 100n * USD));
    await mined(custody(NRO).deposit(100n * USD));
    await mined(custody(NRO).requestLease(study, 3600, 2, 1));
    await mined(custody(NRO).requestLease(study, 3600, 2, 0));
    const incoming = await waitFor('the requests to reach the custodian', async () => {
      const r = (await (await client(ORO)).ok(INCOMING, { ro: ids.oro })).incomingLeaseRequests;
      return r.length === 2 && r;
    });
    expect(incoming).toEqual([
      { leaseId: '2', status: 'REQUESTED', requester: w(NRO).address.toLowerCase(), custodian: w(ORO).address.toLowerCase() },
      { leaseId: '1', status: 'REQUESTED', requester: w(NRO).address.toLowerCase(), custodian: w(ORO).address.toLowerCase() },
    ]);
    const receipt = await mined(custody(ORO).grantLease(1, keccak256(toUtf8Bytes('wrapped')), keccak256(toUtf8Bytes('ciphertext'))));
    grantBlock = receipt!.blockNumber;
    await mined(custody(ORO).denyLease(2));
    await increaseTime(stack.provider, 5);
    period.to = new Date((await latestTimestamp(stack.provider)) * 1000).toISOString();
    await waitFor('the answers to be indexed', async () => {
      const r = (await (await client(NRO)).ok(LEASES, { ro: ids.nro })).myLeases;
      return r.every((l: { status: string }) => l.status !== 'REQUESTED') && r.length === 2;
    });
  });
  afterAll(async () => {
    await db?.end();
    await stack?.stop();
  });

  it('shows each RO its leases with the fees paid, and the custodian no request left to answer', async () => {
    const nro = (await (await client(NRO)).ok(LEASES, { ro: ids.nro })).myLeases;
    const expiresAt = new Date(((await stack.provider.getBlock(grantBlock))!.timestamp + 3600) * 1000).toISOString();
    expect(nro).toEqual([
      expect.objectContaining({ leaseId: '2', status: 'DENIED', fee: FEE.toString(), refund: FEE.toString(), paidToCustodian: '0' }),
      expect.objectContaining({
        leaseId: '1',
        studyId: study,
        status: 'GRANTED',
        keyId: '2',
        custodian: w(ORO).address.toLowerCase(),
        paidToCustodian: (8n * USD).toString(),
        protocolFees: USD.toString(),
        storageShare: USD.toString(),
        refund: null,
        expiresAt,
        wrappedKeyHash: keccak256(toUtf8Bytes('wrapped')),
        ciphertextHash: keccak256(toUtf8Bytes('ciphertext')),
      }),
    ]);
    expect((await (await client(ORO)).ok(LEASES, { ro: ids.oro })).myLeases).toEqual(nro);
    expect((await (await client(ORO)).ok(INCOMING, { ro: ids.oro })).incomingLeaseRequests).toEqual([]);
    // the chain agrees: the custodian's exchange balance holds its share, the treasury's the protocol fee
    expect(await custody(ORO).balanceOf(w(ORO).address)).toBe(8n * USD);
    expect(await custody(ORO).balanceOf(w(TREASURY).address)).toBe(USD);
    expect(await custody(ORO).balanceOf(w(NRO).address)).toBe(90n * USD);
  });

  it('puts the fees in both ROs’ ledgers and CSVs, and both reconciliations find nothing wrong', async () => {
    const csv = async (i: number, ro: string) =>
      parseCsv(
        (
          await (
            await client(i)
          ).ok(`query($ro: String!, $from: DateTime!, $to: DateTime!) { roLedgerCsv(roId: $ro, from: $from, to: $to) }`, {
            ro,
            ...period,
          })
        ).roLedgerCsv,
      ).map((l) => [l.kind, l.amount, l.study_id, l.counterparty]);
    const [oro, nro, treasury] = [ORO, NRO, TREASURY].map((i) => w(i).address.toLowerCase());
    expect(await csv(NRO, ids.nro)).toEqual([
      ['EXCHANGE_DEPOSIT', (100n * USD).toString(), '', ''],
      ['LEASE_ESCROW', FEE.toString(), study, ''],
      ['LEASE_ESCROW', FEE.toString(), study, ''],
      ['LEASE_PAYMENT', (8n * USD).toString(), study, oro],
      ['LEASE_PROTOCOL_FEE', USD.toString(), study, treasury],
      ['LEASE_STORAGE_SHARE', USD.toString(), study, ''],
      ['LEASE_REFUND', FEE.toString(), study, oro],
    ]);
    expect(await csv(ORO, ids.oro)).toEqual([['LEASE_INCOME', (8n * USD).toString(), study, nro]]);

    const { reconciliation: n } = await (await client(NRO)).ok(RECON, { ro: ids.nro, ...period });
    expect(n.discrepancies).toEqual([]);
    expect([n.balanceIdentityHolds, n.escrowIdentityHolds]).toEqual([true, true]);
    expect(n.chain).toMatchObject({
      exchangeDeposits: (100n * USD).toString(),
      leaseEscrowed: (2n * FEE).toString(),
      leasePayments: (8n * USD).toString(),
      leaseRefunds: FEE.toString(),
      tokenIn: (100n * USD).toString(),
    });
    const { otherCredits: _credits, tokenIn: _in, ...flows } = n.chain;
    expect(n.ledger).toEqual(flows);
    expect([n.opening.balance, n.closing.balance, n.closing.escrow]).toEqual(['0', (90n * USD).toString(), '0']);

    const { reconciliation: o } = await (await client(ORO)).ok(RECON, { ro: ids.oro, ...period });
    expect(o.discrepancies).toEqual([]);
    expect([o.balanceIdentityHolds, o.escrowIdentityHolds, o.ledger.leaseIncome, o.closing.balance]).toEqual([
      true,
      true,
      (8n * USD).toString(),
      (8n * USD).toString(),
    ]);
  });

  it('finds a ledger line that does not match the chain', async () => {
    const [row] = await query(`UPDATE ledger_entries SET amount = amount + 1 WHERE kind = 'LEASE_INCOME' RETURNING tx_hash`);
    try {
      const { reconciliation: o } = await (await client(ORO)).ok(RECON, { ro: ids.oro, ...period });
      expect(o.discrepancies.map((x: { kind: string; entryKind: string }) => [x.kind, x.entryKind])).toEqual([
        ['AMOUNT_MISMATCH', 'LEASE_INCOME'],
        ['BALANCE_MISMATCH', 'BALANCE'],
      ]);
    } finally {
      await query(`UPDATE ledger_entries SET amount = amount - 1 WHERE kind = 'LEASE_INCOME' AND tx_hash = $1`, [row.tx_hash]);
    }
  });

  it('derives EXPIRED from chain time, without writing it', async () => {
    await increaseTime(stack.provider, 3600 + 60);
    const expired = await waitFor('the lease to read as expired', async () => {
      const r = (await (await client(NRO)).ok(LEASES, { ro: ids.nro })).myLeases;
      return r.find((l: { leaseId: string; status: string }) => l.leaseId === '1' && l.status === 'EXPIRED');
    });
    expect(expired.renewals).toBe(0);
    expect((await query(`SELECT status FROM exchange_leases WHERE lease_id = 1`))[0].status).toBe('GRANTED');
  });

  it('answers the directory and keys to anyone, custody only to the custodian, leases only to the RO’s members', async () => {
    const anyone = new GqlClient(stack.api);
    const { roDirectory } = await anyone.ok(`{ roDirectory { ro suspended accounts } }`);
    expect(roDirectory).toEqual(
      [ORO, NRO]
        .map((i) => w(i).address.toLowerCase())
        .sort()
        .map((a) => ({ ro: a, suspended: false, accounts: [a] })),
    );
    const { roKeys } = await anyone.ok(`query($ro: String!) { roKeys(ro: $ro) { keyId signer live } }`, { ro: w(NRO).address });
    expect(roKeys).toEqual([{ keyId: '2', signer: w(NRO).address.toLowerCase(), live: true }]);
    expect(await anyone.code(`{ roKeys(ro: "nope") { keyId } }`)).toBe('BAD_INPUT');

    const { custodyOf } = await (await client(ORO)).ok(CUSTODY, { ro: ids.oro, s: study });
    expect(custodyOf).toEqual({
      studyId: study,
      ro: w(ORO).address.toLowerCase(),
      manifestHash: keccak256(toUtf8Bytes('manifest')),
      history: [{ ro: w(ORO).address.toLowerCase(), fromRo: null }],
    });
    // the requester (its own RO), an RO outside the exchange, another RO's id: FORBIDDEN
    expect(await (await client(NRO)).code(CUSTODY, { ro: ids.nro, s: study })).toBe('FORBIDDEN');
    expect(await (await client(NRO)).code(CUSTODY, { ro: ids.nro, s: hexlify(randomBytes(32)) })).toBe('FORBIDDEN');
    expect(await (await client(OTHER)).code(LEASES, { ro: ids.nro })).toBe('FORBIDDEN');
    expect(await (await client(NRO)).code(INCOMING, { ro: ids.oro })).toBe('FORBIDDEN');
    expect((await (await client(OTHER)).ok(LEASES, { ro: ids.other })).myLeases).toEqual([]);
    expect(await anyone.code(LEASES, { ro: ids.nro })).toBe('UNAUTHENTICATED');
  });
});
