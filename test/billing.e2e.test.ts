import { randomBytes } from 'node:crypto';
import { Contract, hexlify } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReconciliationService, LEDGER_CSV_COLUMNS, RECONCILIATION_CSV_COLUMNS } from '#api';
import {
  increaseTime,
  latestTimestamp,
  SafeKit,
  contractNetworks,
  createSafe,
  deploySafeInfrastructure,
  revert,
  snapshot,
  DEV_ROLES,
} from '#devchain';
import { waitForReceipt, mined } from '#chain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { generateX25519KeyPair } from '#lease';
import { LedgerRepository } from '#db';
import { GqlClient } from './support/client.js';
import { parseCsv } from './support/csv.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const RECON = `query($ro: String!, $from: DateTime!, $to: DateTime!) { reconciliation(roId: $ro, from: $from, to: $to) {
  accounts fromBlock toBlock headBlock periodClosed allEntriesFinal finalizedThroughBlock balanceIdentityHolds escrowIdentityHolds
  opening { balance escrow } closing { balance escrow }
  chain { deposits withdrawals escrowed locks locksReleased disputes payouts fees refunds otherCredits tokenIn tokenOut }
  ledger { deposits withdrawals escrowed locks locksReleased disputes payouts fees refunds }
  discrepancies { kind entryKind account txHash logIndex blockNumber studyId ledgerAmount chainAmount detail } } }`;

/** Who is who in this file (dev account numbers, from DEV_ROLES). */
const RO = DEV_ROLES.roDepositor; // Mercy Imaging's depositor
const CO_DEPOSITOR = DEV_ROLES.spare[0]; // Mercy's second depositor
const MERCY_BILLING = DEV_ROLES.roBilling[0]; // Mercy's billing staff
const VALLEY = DEV_ROLES.spare[1]; // Valley Radiology's depositor and billing
const READER = DEV_ROLES.radiologists[0];
const ADMIN = DEV_ROLES.deployer; // the test stack's admin
const SAFE_CREATOR = DEV_ROLES.spare[2]; // deploys the RO's Safe, owns none of it
const SAFE_PROPOSER = DEV_ROLES.spare[3]; // owners of the RO's 2-of-3 Safe
const SAFE_COSIGNER = DEV_ROLES.spare[4];
const SAFE_THIRD_OWNER = DEV_ROLES.admin; // (npm start's admin; the test stack's is ADMIN)

describe('RO billing: ledger, reconciliation against the chain, CSV exports', () => {
  let stack: Stack;
  let staff: GqlClient;
  let mercy: { id: string };
  let valley: { id: string };
  let period: { from: string; to: string };
  const w = (i: number) => devWallet(i, stack.provider);
  const market = (i: number) => stack.owner.market.connect(w(i)) as Contract;
  /** postStudy's arguments with the issuance of `id` for dev account i */
  const withId = (i: number, id: string, ...rest: (number | bigint)[]) => [id, ...rest, ...stack.issued(w(i).address, id)];
  const studyId = () => hexlify(randomBytes(32));

  const client = async (i: number) => {
    const c = new GqlClient(stack.api);
    await c.signIn(w(i));
    return c;
  };
  const balances = async (block: number | 'latest') =>
    ((await stack.owner.market.balanceOf(w(RO).address, { blockTag: block })) as bigint) +
    ((await stack.owner.market.balanceOf(w(CO_DEPOSITOR).address, { blockTag: block })) as bigint);

  beforeAll(async () => {
    stack = await startStack();
    const { owner, provider } = stack;
    const marketAddress = await owner.market.getAddress();
    for (const i of [RO, CO_DEPOSITOR]) {
      await mined(owner.token.mint(w(i).address, 10_000n * USD));
      await mined((owner.token.connect(w(i)) as Contract).approve(marketAddress, 10_000n * USD));
    }
    const expiry = (await latestTimestamp(provider)) + 365 * 86400;
    await mined(owner.registry.attest(w(READER).address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
    const admin = await client(ADMIN);
    const create = `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id } }`;
    mercy = (
      await admin.ok(create, {
        n: 'Mercy Imaging',
        k: generateX25519KeyPair().publicKey,
        b: [w(MERCY_BILLING).address],
        d: [w(RO).address, w(CO_DEPOSITOR).address],
      })
    ).createRo;
    valley = (
      await admin.ok(create, {
        n: 'Valley Radiology',
        k: generateX25519KeyPair().publicKey,
        b: [w(VALLEY).address],
        d: [w(VALLEY).address],
      })
    ).createRo;

    // before the period: an opening balance and an open study
    await mined(market(RO).deposit(1_000n * USD));
    await mined(market(RO).postStudy(...withId(RO, studyId(), 1, 10_000, 0, stateIndex('CA'), 80n * USD)));
    const start = await latestTimestamp(provider);
    await increaseTime(provider, 10);

    // the period: deposits from two wallets, postings, a cancel, claims, an expired lease, reports, a dispute,
    // settlements (by the settler), a withdrawal
    await mined(market(RO).deposit(500n * USD));
    await mined(market(CO_DEPOSITOR).deposit(300n * USD));
    const [a, b, c, d, e] = [studyId(), studyId(), studyId(), studyId(), studyId()];
    for (const [id, max] of [
      [a, 200n],
      [b, 150n],
      [c, 100n],
      [d, 50n],
    ] as const)
      await mined(market(RO).postStudy(...withId(RO, id, 1, 12_000, 1, stateIndex('CA'), max * USD)));
    await mined(market(CO_DEPOSITOR).postStudy(...withId(CO_DEPOSITOR, e, 1, 10_000, 0, stateIndex('CA'), 120n * USD)));
    await mined(market(RO).cancelStudy(d));
    await mined(market(READER).claim(b));
    await increaseTime(provider, 4 * 3600 + 60);
    for (const id of [b, a, c]) await mined(market(READER).claim(id));
    for (const id of [a, b, c]) await mined(market(READER).submitReport(id, hexlify(randomBytes(32))));
    await mined(market(RO).dispute(c));
    await increaseTime(provider, 24 * 3600 + 60);
    await waitFor(
      'the settler to settle',
      async () => Number((await owner.market.getStudy(a)).status) === 5 && Number((await owner.market.getStudy(b)).status) === 5,
    );
    await mined(market(RO).withdraw(100n * USD));
    await increaseTime(provider, 10);
    period = { from: new Date((start + 1) * 1000).toISOString(), to: new Date((await latestTimestamp(provider)) * 1000).toISOString() };
    staff = await client(MERCY_BILLING);
    await waitFor('the withdrawal indexed', async () =>
      (
        await staff.ok(`query($ro: String!) { roLedger(roId: $ro, first: 500) { entries { kind } } }`, { ro: mercy.id })
      ).roLedger.entries.some((x: { kind: string }) => x.kind === 'WITHDRAWAL'),
    );
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('lists every kind of ledger line of the period, over all the RO wallets, with tx hash, block, time and study', async () => {
    const q = `query($ro: String!, $from: DateTime, $to: DateTime) { roLedger(roId: $ro, first: 500, from: $from, to: $to) {
      entries { account kind amount studyId counterparty txHash logIndex blockNumber time } totals { deposits escrowed locks locksReleased disputes refunds } } }`;
    const { roLedger: all } = await staff.ok(q, { ro: mercy.id });
    const { roLedger: inPeriod } = await staff.ok(q, { ro: mercy.id, ...period });
    expect(new Set(inPeriod.entries.map((x: { kind: string }) => x.kind))).toEqual(
      new Set(['DEPOSIT', 'WITHDRAWAL', 'ESCROW', 'LOCK', 'LOCK_RELEASED', 'DISPUTE', 'PAYOUT', 'FEE', 'REFUND']),
    );
    expect(new Set(inPeriod.entries.map((x: { account: string }) => x.account))).toEqual(
      new Set([w(RO).address.toLowerCase(), w(CO_DEPOSITOR).address.toLowerCase()]),
    );
    // the pre-period deposit and posting are outside the period but in the full history
    expect(all.entries.length).toBe(inPeriod.entries.length + 2);
    expect(inPeriod.totals).toMatchObject({ deposits: (800n * USD).toString(), escrowed: (620n * USD).toString() });
    expect(all.totals.deposits).toBe((1_800n * USD).toString());
    for (const x of inPeriod.entries) {
      expect(x.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(new Date(x.time).getTime()).toBeGreaterThanOrEqual(new Date(period.from).getTime());
      const receipt = await stack.provider.getTransactionReceipt(x.txHash);
      expect(receipt!.blockNumber).toBe(x.blockNumber);
      if (!['DEPOSIT', 'WITHDRAWAL'].includes(x.kind)) expect(x.studyId).toMatch(/^0x[0-9a-f]{64}$/);
    }
    // pages of one line each, through the cursor, give the same lines (a page may end inside one event's lines)
    const paged: unknown[] = [];
    let after: string | null = null;
    do {
      const { roLedger: page }: { roLedger: { entries: unknown[]; endCursor: string | null } } = await staff.ok(
        `query($ro: String!, $after: String) { roLedger(roId: $ro, first: 1, after: $after) { entries { account kind txHash logIndex } endCursor } }`,
        { ro: mercy.id, after },
      );
      paged.push(...page.entries);
      after = page.endCursor;
    } while (after && paged.length <= all.entries.length);
    expect(paged).toEqual(
      all.entries.map(({ account, kind, txHash, logIndex }: Record<string, unknown>) => ({ account, kind, txHash, logIndex })),
    );
    expect(await staff.code(`{ roLedger(roId: "${mercy.id}", after: "12:3") { endCursor } }`)).toBe('BAD_INPUT');

    const released = inPeriod.entries.find((x: { kind: string }) => x.kind === 'LOCK_RELEASED');
    expect(released.amount).toBe(
      inPeriod.entries.find((x: { kind: string; studyId: string }) => x.kind === 'LOCK' && x.studyId === released.studyId).amount,
    );
    expect(await (await client(VALLEY)).code(RECON, { ro: mercy.id, ...period })).toBe('FORBIDDEN');
  });

  it('reconciles the period with the chain: zero discrepancies, and opening + flows == closing market balance and escrow', async () => {
    const { reconciliation: r } = await staff.ok(RECON, { ro: mercy.id, ...period });
    expect(r.discrepancies).toEqual([]);
    expect(r.periodClosed).toBe(true);
    // the default finality depth (64) is deeper than this chain: every block counted, none final, and it says so
    expect(r.finalizedThroughBlock).toBe(Math.max(0, r.headBlock - stack.config.indexer.finalityDepth));
    expect(r.toBlock).toBeGreaterThan(r.finalizedThroughBlock);
    expect(r.allEntriesFinal).toBe(false);
    expect(r.balanceIdentityHolds && r.escrowIdentityHolds).toBe(true);
    expect(r.ledger).toEqual(Object.fromEntries(Object.keys(r.ledger).map((k) => [k, r.chain[k]])));
    // read the chain independently: balances at the period's ends, the escrow of the open studies
    expect(BigInt(r.opening.balance)).toBe(await balances(r.fromBlock - 1));
    expect(BigInt(r.closing.balance)).toBe(await balances(r.toBlock));
    expect(BigInt(r.opening.balance)).toBe(920n * USD); // 1000 deposited − 80 escrowed before the period
    expect(BigInt(r.opening.escrow)).toBe(80n * USD);
    expect(BigInt(r.closing.escrow)).toBe((80n + 100n + 120n) * USD); // the pre-period study, the disputed one, the open one
    const c = Object.fromEntries(Object.entries(r.chain).map(([k, v]) => [k, BigInt(v as string)]));
    expect(BigInt(r.opening.balance) + c.deposits - c.withdrawals - c.escrowed + c.refunds + c.otherCredits).toBe(
      BigInt(r.closing.balance),
    );
    expect(BigInt(r.opening.escrow) + c.escrowed - c.payouts - c.fees - c.refunds).toBe(BigInt(r.closing.escrow));
    expect([c.tokenIn, c.tokenOut]).toEqual([c.deposits, c.withdrawals]);
    expect(c.deposits).toBe(800n * USD);
    expect(c.withdrawals).toBe(100n * USD);
    // the market's token balance covers everyone's balances plus all escrow (the contract's invariant), seen from outside
    expect(BigInt(r.closing.balance) + BigInt(r.closing.escrow)).toBeLessThanOrEqual(
      await stack.owner.token.balanceOf(stack.deployment.market),
    );
  });

  it('reports a tampered ledger: a deleted line, an altered amount, a duplicate, an invented line, and tokens sent around the market', async () => {
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    // every change is undone afterwards (even if an assertion fails), so no other test sees it: the ledger rows
    // one by one, the chain (the transfer around the market) by going back to a snapshot, which the indexer
    // follows as a reorg of blocks without market events
    const undo: (() => Promise<unknown>)[] = [];
    const chainBefore = await snapshot(stack.provider);
    try {
      const row = async (kind: string) =>
        (
          await db.query(`SELECT * FROM ledger_entries WHERE kind = $1 AND account = $2 ORDER BY id LIMIT 1 OFFSET $3`, [
            kind,
            w(RO).address.toLowerCase(),
            1,
          ])
        ).rows[0];
      const deposit = await row('DEPOSIT'); // the in-period ones (the first of each is before the period)
      const refund = (await db.query(`SELECT * FROM ledger_entries WHERE kind = 'REFUND' AND amount > 0 ORDER BY id LIMIT 1`)).rows[0];
      const escrow = await row('ESCROW');
      await db.query(`DELETE FROM ledger_entries WHERE id = $1`, [deposit.id]);
      undo.push(() =>
        db.query(`INSERT INTO ledger_entries SELECT * FROM json_populate_record(NULL::ledger_entries, $1)`, [JSON.stringify(deposit)]),
      );
      await db.query(`UPDATE ledger_entries SET amount = amount + 1 WHERE id = $1`, [refund.id]);
      undo.push(() => db.query(`UPDATE ledger_entries SET amount = $2 WHERE id = $1`, [refund.id, refund.amount]));
      const {
        rows: [duplicate],
      } = await db.query(
        `INSERT INTO ledger_entries (chain_id, account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time)
         SELECT chain_id, $2, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time FROM ledger_entries WHERE id = $1 RETURNING id`,
        [escrow.id, w(CO_DEPOSITOR).address.toLowerCase()],
      );
      undo.push(() => db.query(`DELETE FROM ledger_entries WHERE id = $1`, [duplicate.id]));
      const fake = hexlify(randomBytes(32));
      const {
        rows: [invented],
      } = await db.query(
        `INSERT INTO ledger_entries (chain_id, account, kind, amount, tx_hash, log_index, block_number, block_time) VALUES ($1, $2, 'DEPOSIT', '7', $3, 0, $4, $5) RETURNING id`,
        [stack.config.chainId, w(CO_DEPOSITOR).address.toLowerCase(), fake, deposit.block_number, deposit.block_time],
      );
      undo.push(() => db.query(`DELETE FROM ledger_entries WHERE id = $1`, [invented.id]));
      // tokens sent straight to the market are not a deposit: nobody's market balance grows
      const direct = await mined((stack.owner.token.connect(w(RO)) as Contract).transfer(stack.deployment.market, 3n * USD));
      const to = new Date(((await stack.provider.getBlock(direct.blockNumber))!.timestamp + 1) * 1000).toISOString();

      const { reconciliation: r } = await staff.ok(RECON, { ro: mercy.id, from: period.from, to });
      const found = r.discrepancies.map((d: { kind: string; entryKind: string; txHash: string }) => `${d.kind}:${d.entryKind}:${d.txHash}`);
      expect(found).toEqual(
        expect.arrayContaining([
          `MISSING:DEPOSIT:${deposit.tx_hash}`,
          `AMOUNT_MISMATCH:REFUND:${refund.tx_hash}`,
          `DUPLICATE:ESCROW:${escrow.tx_hash}`,
          `NOT_ON_CHAIN:DEPOSIT:${fake}`,
          `TRANSFER_MISMATCH:DEPOSIT:${direct.hash.toLowerCase()}`,
          'BALANCE_MISMATCH:BALANCE:null',
          'BALANCE_MISMATCH:ESCROW:null',
        ]),
      );
      const mismatch = r.discrepancies.find((d: { kind: string }) => d.kind === 'AMOUNT_MISMATCH');
      expect(BigInt(mismatch.ledgerAmount) - BigInt(mismatch.chainAmount)).toBe(1n);
      // the chain itself still adds up
      expect(r.balanceIdentityHolds && r.escrowIdentityHolds).toBe(true);
      expect(r.discrepancies.some((d: { kind: string }) => d.kind === 'IDENTITY_BROKEN')).toBe(false);
      const csv = parseCsv(
        (
          await staff.ok(`query($ro: String!, $from: DateTime!, $to: DateTime!) { reconciliationCsv(roId: $ro, from: $from, to: $to) }`, {
            ro: mercy.id,
            from: period.from,
            to,
          })
        ).reconciliationCsv,
      );
      expect(csv.filter((l) => l.record === 'DISCREPANCY').length).toBe(r.discrepancies.length);
    } finally {
      for (const step of undo.reverse()) await step();
      await revert(stack.provider, chainBefore);
      await db.end();
    }
    // restored: the shared period reconciles cleanly again
    expect((await staff.ok(RECON, { ro: mercy.id, ...period })).reconciliation.discrepancies).toEqual([]);
  });

  it('exports the ledger and the reconciliation as CSV with the documented columns, whose totals match the chain', async () => {
    const { roLedgerCsv, reconciliationCsv } = await staff.ok(
      `query($ro: String!, $from: DateTime!, $to: DateTime!) { roLedgerCsv(roId: $ro, from: $from, to: $to) reconciliationCsv(roId: $ro, from: $from, to: $to) }`,
      { ro: mercy.id, ...period },
    );
    expect(roLedgerCsv.split('\r\n')[0]).toBe(LEDGER_CSV_COLUMNS.join(','));
    expect(reconciliationCsv.split('\r\n')[0]).toBe(RECONCILIATION_CSV_COLUMNS.join(','));
    const lines = parseCsv(roLedgerCsv);
    const sum = (k: string) => lines.filter((l) => l.kind === k).reduce((x, l) => x + BigInt(l.amount), 0n);
    const rec = parseCsv(reconciliationCsv);
    const fromBlock = Number(rec.find((l) => l.kind === 'FROM')!.block_number);
    const toBlock = Number(rec.find((l) => l.kind === 'TO')!.block_number);
    expect(sum('DEPOSIT') - sum('WITHDRAWAL') - sum('ESCROW') + sum('REFUND')).toBe(
      (await balances(toBlock)) - (await balances(fromBlock - 1)),
    );
    expect(rec.filter((l) => l.record === 'DISCREPANCY')).toEqual([]);
    for (const t of rec.filter((l) => l.record === 'TOTAL' && l.ledger_amount !== ''))
      expect([t.kind, t.ledger_amount]).toEqual([t.kind, t.chain_amount]);
    expect(rec.find((l) => l.kind === 'CLOSING_BALANCE')!.chain_amount).toBe((await balances(toBlock)).toString());

    // the monthly statement: the calendar month of chain time
    const month = period.to.slice(0, 7);
    const { monthlyStatement: s } = await staff.ok(
      `query($ro: String!, $m: String!) { monthlyStatement(roId: $ro, month: $m) { roName month reconciliation { from to discrepancies { kind } } ledgerCsv reconciliationCsv } }`,
      { ro: mercy.id, m: month },
    );
    expect(s.roName).toBe('Mercy Imaging');
    expect(s.reconciliation.discrepancies).toEqual([]);
    expect(s.reconciliation.from).toBe(`${month}-01T00:00:00.000Z`);
    expect(parseCsv(s.ledgerCsv).length).toBeGreaterThan(0);
    expect(await staff.code(`query($ro: String!) { monthlyStatement(roId: $ro, month: "2026-13") { month } }`, { ro: mercy.id })).toBe(
      'BAD_INPUT',
    );
  });

  it('lists events in blocks without the configured confirmations as PENDING, and closes the period at the last final block', async () => {
    const reconciler = new ReconciliationService(
      { ...stack.config, indexer: { ...stack.config.indexer, confirmations: 3 } },
      stack.api.get(LedgerRepository),
    );
    await increaseTime(stack.provider, 5); // blocks of one second share a timestamp: start the period at a fresh one
    const from = new Date((await latestTimestamp(stack.provider)) * 1000);
    const receipt = await mined(market(CO_DEPOSITOR).deposit(42n * USD));
    const r = await reconciler.reconcile([w(RO).address, w(CO_DEPOSITOR).address], from, new Date(Date.now() + 3600_000 * 48));
    expect(r.periodClosed).toBe(false);
    expect(r.allEntriesFinal).toBe(false);
    expect(r.toBlock).toBeLessThan(receipt.blockNumber);
    expect(r.discrepancies).toEqual([
      expect.objectContaining({ kind: 'PENDING', entryKind: 'DEPOSIT', txHash: receipt.hash.toLowerCase(), chainAmount: 42n * USD }),
    ]);
    await stack.provider.send('anvil_mine', ['0x3', '0xa']); // three more blocks, 10 s apart
    const depositTime = new Date((await stack.provider.getBlock(receipt.blockNumber))!.timestamp * 1000);
    const ledger = stack.api.get(LedgerRepository);
    await waitFor(
      'the deposit indexed',
      async () =>
        (await ledger.between(stack.config.chainId, [w(CO_DEPOSITOR).address.toLowerCase()], receipt.blockNumber, receipt.blockNumber))
          .length,
    );
    const later = await reconciler.reconcile([w(RO).address, w(CO_DEPOSITOR).address], from, depositTime);
    expect(
      later.discrepancies,
      JSON.stringify(later.discrepancies, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
    ).toEqual([]);
    expect(later.periodClosed).toBe(true);
    // counted, but still within the finality depth: its ledger line is PENDING, and the report does not claim otherwise
    expect(later.allEntriesFinal).toBe(false);
    expect(later.finalizedThroughBlock).toBeLessThan(receipt.blockNumber);
    await stack.provider.send('anvil_mine', [`0x${stack.config.indexer.finalityDepth.toString(16)}`, '0x1']);
    const settled = await reconciler.reconcile([w(RO).address, w(CO_DEPOSITOR).address], from, depositTime);
    expect(settled.allEntriesFinal).toBe(true);
    expect(settled.finalizedThroughBlock).toBeGreaterThanOrEqual(receipt.blockNumber);
    expect(later.closing.balance - later.opening.balance).toBe(42n * USD);
  });

  it("deposits from the RO's 2-of-3 Safe: proposed and signed by one owner, co-signed by another, executed as approve + deposit in one MultiSend", async () => {
    const { provider, owner, deployment } = stack;
    const infra = await deploySafeInfrastructure(w(SAFE_CREATOR));
    const owners = [SAFE_PROPOSER, SAFE_COSIGNER, SAFE_THIRD_OWNER].map((i) => w(i).address);
    const safeAddress = await createSafe(w(SAFE_CREATOR), infra, owners, 2);
    expect(await deploySafeInfrastructure(w(SAFE_CREATOR))).toEqual(infra); // idempotent
    const admin = await client(ADMIN);
    await admin.ok(`mutation($id: ID!, $a: String!) { addRoMember(roId: $id, account: $a, role: DEPOSITOR) { id } }`, {
      id: mercy.id,
      a: safeAddress,
    });
    await mined(owner.token.mint(safeAddress, 250n * USD));
    await increaseTime(provider, 5);
    const from = new Date((await latestTimestamp(provider)) * 1000).toISOString();

    const networks = contractNetworks(deployment.chainId, infra);
    const amount = 250n * USD;
    const proposer = await SafeKit.init({
      provider: stack.anvil.rpcUrl,
      signer: w(SAFE_PROPOSER).privateKey,
      safeAddress,
      contractNetworks: networks,
    });
    expect((await proposer.getOwners()).map((o: string) => o.toLowerCase()).sort()).toEqual(owners.map((o) => o.toLowerCase()).sort());
    expect(await proposer.getThreshold()).toBe(2);
    const proposal = await proposer.createTransaction({
      transactions: [
        { to: deployment.token, value: '0', data: owner.token.interface.encodeFunctionData('approve', [deployment.market, amount]) },
        { to: deployment.market, value: '0', data: owner.market.interface.encodeFunctionData('deposit', [amount]) },
      ],
    });
    expect(proposal.data.to.toLowerCase()).toBe(infra.multiSendCallOnlyAddress.toLowerCase()); // one batch, delegate-called
    const signedOnce = await proposer.signTransaction(proposal);
    const cosigner = await proposer.connect({ signer: w(SAFE_COSIGNER).privateKey });
    const hash = await cosigner.getTransactionHash(signedOnce);
    expect(await proposer.getTransactionHash(signedOnce)).toBe(hash);
    // one signature is not enough: executed by a non-owner it would fail
    const outsider = await proposer.connect({ signer: w(SAFE_CREATOR).privateKey });
    expect(await outsider.isValidTransaction(signedOnce)).toBe(false);
    const signedTwice = await cosigner.signTransaction(signedOnce);
    expect(signedTwice.signatures.size).toBe(2);
    const executed = await cosigner.executeTransaction(signedTwice);
    const receipt = await waitForReceipt(provider, executed.hash);
    expect(receipt?.status).toBe(1);
    expect(await owner.market.balanceOf(safeAddress)).toBe(amount);

    await increaseTime(provider, 5);
    const to = new Date((await latestTimestamp(provider)) * 1000).toISOString();
    const ledgerQuery = `query($ro: String!, $from: DateTime, $to: DateTime) { roLedger(roId: $ro, from: $from, to: $to) { entries { account kind amount txHash } } }`;
    const { roLedger } = await waitFor('the Safe deposit indexed', async () => {
      const d = await staff.ok(ledgerQuery, { ro: mercy.id, from, to });
      return d.roLedger.entries.length ? d : null;
    });
    expect(roLedger.entries).toEqual([
      { account: safeAddress.toLowerCase(), kind: 'DEPOSIT', amount: amount.toString(), txHash: receipt!.hash.toLowerCase() },
    ]);
    const { reconciliation: r } = await staff.ok(RECON, { ro: mercy.id, from, to });
    expect(r.discrepancies).toEqual([]);
    expect(r.chain.tokenIn).toBe(amount.toString());
    expect(BigInt(r.closing.balance) - BigInt(r.opening.balance)).toBe(amount);
  });
  it("reconciles a dispute the market's owner resolves: its split is the settlement's lines, on both sides", async () => {
    // its own RO (Valley, wallet 8) and study, so no other test's ledger or balances change
    const { owner, provider } = stack;
    await mined(owner.token.mint(w(VALLEY).address, 500n * USD));
    await mined((owner.token.connect(w(VALLEY)) as Contract).approve(stack.deployment.market, 500n * USD));
    await mined(market(VALLEY).deposit(500n * USD));
    const id = studyId();
    await mined(market(VALLEY).postStudy(...withId(VALLEY, id, 1, 10_000, 0, stateIndex('CA'), 200n * USD)));
    await increaseTime(provider, 5);
    const from = new Date((await latestTimestamp(provider)) * 1000).toISOString();
    await mined(market(READER).claim(id));
    await mined(market(READER).submitReport(id, hexlify(randomBytes(32))));
    await mined(market(VALLEY).dispute(id));
    const locked = (await owner.market.getStudy(id)).lockedBounty as bigint;
    await mined(owner.market.resolveDispute(id, locked / 2n));
    await increaseTime(provider, 5);
    const to = new Date((await latestTimestamp(provider)) * 1000).toISOString();

    const valleyStaff = await client(VALLEY);
    const ledgerQuery = `query($ro: String!, $from: DateTime, $to: DateTime) { roLedger(roId: $ro, from: $from, to: $to) { entries { kind amount } } }`;
    const { roLedger } = await waitFor('the resolution indexed', async () => {
      const d = await valleyStaff.ok(ledgerQuery, { ro: valley.id, from, to });
      return d.roLedger.entries.some((e: { kind: string }) => e.kind === 'PAYOUT') ? d : null;
    });
    expect(roLedger.entries.map((e: { kind: string }) => e.kind).sort()).toEqual(['DISPUTE', 'FEE', 'LOCK', 'PAYOUT', 'REFUND']);
    const { reconciliation: r } = await valleyStaff.ok(RECON, { ro: valley.id, from, to });
    expect(r.discrepancies).toEqual([]);
    expect(r.balanceIdentityHolds && r.escrowIdentityHolds).toBe(true);
    expect(BigInt(r.chain.payouts) + BigInt(r.chain.fees)).toBe(locked / 2n);
    expect(BigInt(r.chain.refunds)).toBe(200n * USD - locked / 2n);
    expect(BigInt(r.opening.escrow) - BigInt(r.closing.escrow)).toBe(200n * USD);
  });
});
