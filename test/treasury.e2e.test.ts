import { Contract, type TypedDataDomain, type TypedDataField, hexlify, randomBytes } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { increaseTime, latestTimestamp, DEV_ROLES } from '#devchain';
import { mined, safeAbi } from '#chain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { GqlClient } from './support/client.js';
import { Stack, devWallet, startSettler, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const OWNERS = [...DEV_ROLES.treasuryOwners];
const PAYEE = DEV_ROLES.spare[0]; // a credential verifier being paid
const FIELDS = `id safe nonce safeTxHash typedData typedDataV4 status replaces executedTx payments { to amount } signatures { signer }`;
const PROPOSE = `mutation($p: [TreasuryPaymentInput!]!, $d: String!, $r: ID) { proposeTreasuryPayout(payments: $p, description: $d, replaces: $r) { ${FIELDS} } }`;
const SIGN = `mutation($id: ID!, $s: String!) { signTreasuryProposal(id: $id, signature: $s) { ${FIELDS} } }`;
const EXECUTE = `mutation($id: ID!) { executeTreasuryProposal(id: $id) { txHash proposal { ${FIELDS} } } }`;

/** a proposal's EIP-712 SafeTx as the API gives it, signed as is */
type SafeTypedData = { domain: TypedDataDomain; types: Record<string, TypedDataField[]>; message: Record<string, unknown> };

describe('the treasury Safe over GraphQL', () => {
  let stack: Stack;
  let safe: Contract;
  const clients = new Map<number, GqlClient>();
  const w = (i: number) => devWallet(i, stack.provider);
  const as = async (i: number) => {
    if (!clients.has(i)) {
      const c = new GqlClient(stack.api);
      await c.signIn(w(i));
      clients.set(i, c);
    }
    return clients.get(i)!;
  };
  /** owner i signs the proposal's EIP-712 SafeTx with their wallet */
  const signature = async (i: number, p: { typedData: SafeTypedData }) =>
    w(i).signTypedData(p.typedData.domain, p.typedData.types, p.typedData.message); // as the API gives it, no reshaping
  const sign = async (i: number, p: { id: string; typedData: SafeTypedData }) =>
    (await as(i)).send(SIGN, { id: p.id, s: await signature(i, p) });
  const tokenOf = (i: number) => stack.owner.token.balanceOf(w(i).address) as Promise<bigint>;
  const treasuryBalance = () => stack.owner.market.balanceOf(safe.target) as Promise<bigint>;

  beforeAll(async () => {
    stack = await startStack({ treasurySafe: { owners: OWNERS, threshold: 2 } });
    const { owner, provider, deployment } = stack;
    safe = new Contract(deployment.treasury, safeAbi(), provider);
    // fees: two studies posted by an RO (#2), read by a radiologist (#3), settled by the settler
    const market = (i: number) => owner.market.connect(w(i)) as Contract;
    await mined(owner.token.mint(w(DEV_ROLES.roDepositor).address, 1_000n * USD));
    await mined((owner.token.connect(w(DEV_ROLES.roDepositor)) as Contract).approve(deployment.market, 1_000n * USD));
    await mined(market(DEV_ROLES.roDepositor).deposit(1_000n * USD));
    await mined(
      owner.registry.attest(
        w(DEV_ROLES.radiologists[0]).address,
        toMask([stateIndex('CA')]),
        toMask([modalityIndex('CT')]),
        (await latestTimestamp(provider)) + 365 * 86400,
      ),
    );
    const studies = [hexlify(randomBytes(32)), hexlify(randomBytes(32))];
    for (const id of studies) {
      await mined(
        market(DEV_ROLES.roDepositor).postStudy(
          id,
          modalityIndex('CT'),
          12_000,
          1,
          stateIndex('CA'),
          200n * USD,
          ...stack.issued(w(DEV_ROLES.roDepositor).address, id),
        ),
      );
      await mined(market(DEV_ROLES.radiologists[0]).claim(id));
      await mined(market(DEV_ROLES.radiologists[0]).submitReport(id, hexlify(randomBytes(32))));
    }
    await increaseTime(provider, 24 * 3600 + 60);
    await waitFor('the settler to settle', async () => {
      const s = await Promise.all(studies.map((id) => owner.market.getStudy(id)));
      return s.every((x) => Number(x.status) === 5);
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('pays a verifier from collected fees once two of the three owners have signed through GraphQL, and refuses one signature', async () => {
    const fees = await treasuryBalance();
    expect(fees).toBeGreaterThan(0n);
    const amount = fees / 2n;
    const [alice, bob] = [await as(OWNERS[0]), await as(OWNERS[1])];

    expect(await (await as(PAYEE)).code(`{ treasury { safe } }`)).toBe('FORBIDDEN');
    expect(await (await as(PAYEE)).code(PROPOSE, { p: [{ to: w(PAYEE).address, amount: '1' }], d: 'x' })).toBe('FORBIDDEN');
    const { treasury } = await alice.ok(`{ treasury { safe owners threshold nonce marketBalance tokenBalance } }`);
    expect(treasury).toEqual({
      safe: String(safe.target).toLowerCase(),
      owners: OWNERS.map((i) => w(i).address.toLowerCase()),
      threshold: 2,
      nonce: '0',
      marketBalance: fees.toString(),
      tokenBalance: '0',
    });
    expect(
      (await alice.send(PROPOSE, { p: [{ to: w(PAYEE).address, amount: (fees + 1n).toString() }], d: 'too much' })).errors?.[0].extensions,
    ).toMatchObject({ code: 'CONFLICT', reason: 'INSUFFICIENT_TREASURY_BALANCE' });

    const { proposeTreasuryPayout: p } = await alice.ok(PROPOSE, {
      p: [{ to: w(PAYEE).address, amount: amount.toString() }],
      d: 'Verifier fees, November',
    });
    expect(p).toMatchObject({
      nonce: '0',
      status: 'PENDING',
      payments: [{ to: w(PAYEE).address.toLowerCase(), amount: amount.toString() }],
      signatures: [],
    });
    const m = p.typedData.message;
    // a wallet's eth_signTypedData_v4 over typedDataV4 as given (anvil signs for its dev accounts) is the same signature
    expect(await stack.provider.send('eth_signTypedData_v4', [w(OWNERS[0]).address, JSON.stringify(p.typedDataV4)])).toBe(
      await signature(OWNERS[0], p),
    );
    expect(
      await safe.getTransactionHash(
        m.to,
        m.value,
        m.data,
        m.operation,
        m.safeTxGas,
        m.baseGas,
        m.gasPrice,
        m.gasToken,
        m.refundReceiver,
        m.nonce,
      ),
    ).toBe(p.safeTxHash); // the hash the owners sign is the Safe's own

    // alice signs; a signature that is not the submitter's, a second signature of alice: refused
    expect((await sign(OWNERS[0], p)).errors).toBeUndefined();
    expect((await bob.send(SIGN, { id: p.id, s: await signature(OWNERS[0], p) })).errors?.[0].extensions).toMatchObject({
      code: 'BAD_INPUT',
      reason: 'SIGNER_MISMATCH',
    });
    expect((await sign(OWNERS[0], p)).errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'ALREADY_SIGNED' });

    // k − 1 = 1 signature: the service refuses, and the Safe itself would too (GS020)
    const early = await bob.send(EXECUTE, { id: p.id });
    expect(early.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'BELOW_THRESHOLD', signatures: 1, threshold: 2 });
    const one = (await alice.ok(`query($id: ID!) { treasuryProposal(id: $id) { signatures { signature } } }`, { id: p.id }))
      .treasuryProposal.signatures[0].signature;
    await expect(
      (safe.connect(w(DEV_ROLES.admin)) as Contract).execTransaction.staticCall(
        m.to,
        m.value,
        m.data,
        m.operation,
        0,
        0,
        0,
        m.gasToken,
        m.refundReceiver,
        one,
      ),
    ).rejects.toThrow(/GS020/);
    expect(await tokenOf(PAYEE)).toBe(0n);
    expect(await safe.nonce()).toBe(0n);

    // bob signs: threshold met, the service relays execTransaction (the owners pay no gas)
    const ownerEth = await Promise.all([OWNERS[0], OWNERS[1]].map((i) => stack.provider.getBalance(w(i).address)));
    expect((await sign(OWNERS[1], p)).data?.signTreasuryProposal.signatures).toHaveLength(2);
    const { executeTreasuryProposal: done } = await bob.ok(EXECUTE, { id: p.id });
    expect(done.proposal).toMatchObject({ status: 'EXECUTED', executedTx: done.txHash });
    expect(await tokenOf(PAYEE)).toBe(amount);
    expect(await treasuryBalance()).toBe(fees - amount);
    expect(await safe.nonce()).toBe(1n);
    expect(await Promise.all([OWNERS[0], OWNERS[1]].map((i) => stack.provider.getBalance(w(i).address)))).toEqual(ownerEth);
    expect((await bob.send(EXECUTE, { id: p.id })).errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'EXECUTED' });
  });

  it('queues concurrent payouts at consecutive nonces, executes in nonce order, and marks a payout replaced when another executes at its nonce', async () => {
    const [alice, carol] = [await as(OWNERS[0]), await as(OWNERS[2])];
    const before = await tokenOf(PAYEE);
    const propose = (client: GqlClient, amount: bigint, d: string, replaces?: string) =>
      client
        .ok(PROPOSE, { p: [{ to: w(PAYEE).address, amount: amount.toString() }], d, r: replaces ?? null })
        .then((r) => r.proposeTreasuryPayout);
    const [a, b] = await Promise.all([propose(alice, 3n, 'A'), propose(carol, 5n, 'B')]);
    expect([a.nonce, b.nonce].sort()).toEqual(['1', '2']); // above the Safe's nonce (1), never the same
    const [first, second] = a.nonce === '1' ? [a, b] : [b, a];
    const replacement = await propose(carol, 7n, 'replaces the first', first.id);
    expect(replacement).toMatchObject({ nonce: '1', replaces: first.id, status: 'PENDING' });
    expect((await propose(alice, 1n, 'next')).nonce).toBe('3');

    // the second is fully signed but waits for nonce 1
    for (const p of [second, replacement, first]) for (const i of [OWNERS[1], OWNERS[2]]) expect((await sign(i, p)).errors).toBeUndefined();
    expect((await carol.send(EXECUTE, { id: second.id })).errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      reason: 'NONCE_NOT_REACHED',
      safeNonce: '1',
    });

    // the replacement executes at nonce 1: the first is replaced and can never execute
    expect((await carol.ok(EXECUTE, { id: replacement.id })).executeTreasuryProposal.proposal.status).toBe('EXECUTED');
    const firstNow = (await alice.ok(`query($id: ID!) { treasuryProposal(id: $id) { status } }`, { id: first.id })).treasuryProposal;
    expect(firstNow.status).toBe('REPLACED');
    expect((await carol.send(EXECUTE, { id: first.id })).errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'REPLACED' });
    expect((await sign(OWNERS[0], first)).errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'REPLACED' });

    // now the second's nonce is due
    expect((await alice.ok(EXECUTE, { id: second.id })).executeTreasuryProposal.proposal.status).toBe('EXECUTED');
    expect(await tokenOf(PAYEE)).toBe(before + 7n + BigInt(second.payments[0].amount));
    expect(await safe.nonce()).toBe(3n);
    const listed = (await alice.ok(`{ treasuryProposals(status: PENDING) { ${FIELDS} } }`)).treasuryProposals;
    expect(listed.map((p: { nonce: string }) => p.nonce)).toEqual(['3']);

    // signatures collected here, submitted by an owner elsewhere (as the Safe app would): the service records the execution
    const [next] = listed;
    for (const i of [OWNERS[0], OWNERS[2]]) expect((await sign(i, next)).errors).toBeUndefined();
    const signed = (await alice.ok(`query($id: ID!) { treasuryProposal(id: $id) { signatures { signer signature } } }`, { id: next.id }))
      .treasuryProposal;
    const m = next.typedData.message;
    const sigs = `0x${signed.signatures.map((x: { signature: string }) => x.signature.slice(2)).join('')}`; // sorted by signer
    const outside = await mined(
      (safe.connect(w(OWNERS[2])) as Contract).execTransaction(
        m.to,
        m.value,
        m.data,
        m.operation,
        0,
        0,
        0,
        m.gasToken,
        m.refundReceiver,
        sigs,
      ),
    );
    expect((await alice.ok(`{ treasuryProposals(first: 1) { nonce status executedTx } }`)).treasuryProposals).toEqual([
      { nonce: '3', status: 'EXECUTED', executedTx: outside.hash.toLowerCase() },
    ]);
    expect((await alice.ok(PROPOSE, { p: [{ to: w(PAYEE).address, amount: '1' }], d: 'after' })).proposeTreasuryPayout.nonce).toBe('4');
  });
  it('keeps an execution queued while the worker is stopped and sends it once, with the next nonce, when the worker is back', async () => {
    const [alice, bob] = [await as(OWNERS[0]), await as(OWNERS[1])];
    // at the Safe's next nonce: replacing what an earlier test left pending there
    const [due] = (await alice.ok(`{ treasuryProposals(status: PENDING) { id nonce } }`)).treasuryProposals;
    const { proposeTreasuryPayout: p } = await alice.ok(PROPOSE, {
      p: [{ to: w(PAYEE).address, amount: '2' }],
      d: 'durability',
      r: due?.id ?? null,
    });
    for (const i of OWNERS.slice(0, 2)) expect((await sign(i, p)).errors).toBeUndefined();
    const relayer = w(DEV_ROLES.treasuryRelayer).address; // TREASURY_RELAYER_PRIVATE_KEY
    const nonce = await stack.provider.getTransactionCount(relayer);
    const db = new pg.Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    try {
      // the worker (the only sender) goes away: the API still checks and queues, and the mutation waits
      await stack.settler.close();
      const executing = bob.send(EXECUTE, { id: p.id });
      const queued = await waitFor('the execution queued', async () => {
        const { rows } = await db.query(`SELECT * FROM relay_requests WHERE purpose = 'treasury' AND dedupe_key = $1`, [
          `execTransaction:${p.id}`,
        ]);
        return rows[0];
      });
      expect(queued).toMatchObject({ status: 'QUEUED', sender: relayer.toLowerCase(), relayer_nonce: null });
      expect(await stack.provider.getTransactionCount(relayer, 'pending')).toBe(nonce); // nothing sent without the worker

      stack.settler = await startSettler(stack.config);
      const done = await executing;
      expect(done.errors).toBeUndefined();
      expect(done.data?.executeTreasuryProposal.proposal.status).toBe('EXECUTED');
      const { rows } = await db.query(
        `SELECT status, relayer_nonce, tx_hash FROM relay_requests WHERE purpose = 'treasury' AND dedupe_key = $1`,
        [`execTransaction:${p.id}`],
      );
      expect(rows).toEqual([{ status: 'MINED', relayer_nonce: String(nonce), tx_hash: done.data.executeTreasuryProposal.txHash }]);
      expect(await stack.provider.getTransactionCount(relayer)).toBe(nonce + 1); // one transaction, no nonce used twice
      expect(await safe.nonce()).toBe(BigInt(p.nonce) + 1n);
    } finally {
      await db.end();
    }
  });
});
