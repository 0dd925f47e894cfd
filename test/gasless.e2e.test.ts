import { HDNodeWallet, keccak256, toUtf8Bytes } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, beforeEach } from 'vitest';
import { DEV_ROLES } from '#devchain';
import { createApiApp } from '#api';
import { FORWARD_REQUEST_TYPES } from '#chain';
import { GqlClient } from './support/client.js';
import { ctRadiologist, fundRo, postCtStudy } from './support/funding.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const SPEND_LIMIT = 10n ** 17n;
const GASLESS = `request { from to value gas nonce deadline data } domain { name version chainId verifyingContract }`;

describe('gasless claims and reports through the ERC-2771 forwarder', () => {
  let stack: Stack;
  let db: pg.Client;
  let relayer: string;
  beforeAll(async () => {
    stack = await startStack({ relay: { replaceAfterMs: 300, spendLimitWei: SPEND_LIMIT.toString() } });
    relayer = devWallet(DEV_ROLES.relayer, stack.provider).address;
    db = new pg.Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    await fundRo(stack, devWallet(DEV_ROLES.roDepositor, stack.provider), 10_000n * USD);
  });
  afterAll(async () => {
    await db?.end();
    await stack?.stop();
  });
  // Each test starts from the fee floor. anvil suggests the lowest tip of the latest block, and every transaction
  // sent with that suggestion passes it on, so one test's outsized tip (the nonce test's) would otherwise raise the
  // fees, and the spend reservations, of every later test; one empty block resets the suggestion.
  beforeEach(async () => {
    await stack.provider.send('evm_mine', []);
  });

  const post = () => postCtStudy(stack);

  const radiologist = () => ctRadiologist(stack);

  async function gasless(r: { wallet: HDNodeWallet; client: GqlClient }, studyId: string, reportHash?: string) {
    const { prepared } = await r.client.ok(
      reportHash
        ? `mutation($id: ID!, $h: String!) { prepared: prepareGaslessReport(studyId: $id, reportHash: $h) { ${GASLESS} } }`
        : `mutation($id: ID!) { prepared: prepareGaslessClaim(studyId: $id) { ${GASLESS} } }`,
      { id: studyId, ...(reportHash ? { h: reportHash } : {}) },
    );
    const signature = await r.wallet.signTypedData(prepared.domain, FORWARD_REQUEST_TYPES, prepared.request);
    return { request: prepared.request, signature };
  }
  const relay = (c: GqlClient, s: { request: unknown; signature: string }) =>
    c.send(`mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash blockNumber function } }`, {
      r: s.request,
      s: s.signature,
    });

  it('a radiologist with zero ETH claims and reports; the relayer pays; a replayed request is not sent twice', async () => {
    const studyId = await post();
    const rad = await radiologist();
    const relayerNonce = await stack.provider.getTransactionCount(relayer);

    const claim = await gasless(rad, studyId);
    expect(claim.request.from.toLowerCase()).toBe(rad.wallet.address.toLowerCase());
    const claimed = await relay(rad.client, claim);
    expect(claimed.errors).toBeUndefined();
    expect(claimed.data.relayGasless.function).toBe('claim');
    expect((await stack.owner.market.getStudy(studyId)).radiologist).toBe(rad.wallet.address);
    // the same signed request again: the outbox answers with the first result and sends nothing
    const replay = await relay(rad.client, claim);
    expect(replay.data.relayGasless.txHash).toBe(claimed.data.relayGasless.txHash);
    expect(await stack.provider.getTransactionCount(relayer)).toBe(relayerNonce + 1);

    // another radiologist is refused before anything is signed or paid
    const rival = await radiologist();
    expect(await rival.client.code(`mutation($id: ID!) { prepareGaslessClaim(studyId: $id) { typedData } }`, { id: studyId })).toBe(
      'ALREADY_CLAIMED',
    );
    // nor can a request signed by someone else be relayed as yours
    expect((await relay(rival.client, claim)).errors?.[0].extensions?.code).toBe('FORBIDDEN');

    await waitFor(
      'the claim indexed',
      async () => (await rad.client.ok(`query($id: ID!) { study(id: $id) { status } }`, { id: studyId })).study.status === 'CLAIMED',
    );
    const reportHash = keccak256(toUtf8Bytes('sealed report'));
    const report = await gasless(rad, studyId, reportHash);
    const reported = await relay(rad.client, report);
    expect(reported.data?.relayGasless.function).toBe('submitReport');
    const onChain = await stack.owner.market.getStudy(studyId);
    expect(onChain.reportHash).toBe(reportHash);
    expect(await stack.provider.getBalance(rad.wallet.address)).toBe(0n);
    expect(await stack.provider.getTransactionCount(relayer)).toBe(relayerNonce + 2);
  });

  it("sends a request again with a new nonce when the relayer's key used its nonce for another transaction", async () => {
    const studyId = await post();
    const rad = await radiologist();
    const claim = await gasless(rad, studyId);
    const relayerNonce = await stack.provider.getTransactionCount(relayer);
    await stack.provider.send('evm_setAutomine', [false]);
    let pending: Promise<Awaited<ReturnType<typeof relay>>>;
    try {
      pending = relay(rad.client, claim);
      const row = await waitFor('the request sent', async () => {
        const { rows } = await db.query(`SELECT * FROM relay_requests WHERE signer = $1 AND status = 'SENT'`, [
          rad.wallet.address.toLowerCase(),
        ]);
        return rows[0];
      });
      expect(Number(row.relayer_nonce)).toBe(relayerNonce);
      // the same key elsewhere: a transfer with that nonce and a fee above anything the relayer would bump to takes
      // its place in the pool, and is mined (its tip would carry over into later fee estimates: see beforeEach)
      const elsewhere = devWallet(DEV_ROLES.relayer, stack.provider);
      const fee = BigInt(row.attempts[0].maxFeePerGas) * 20n;
      await elsewhere.sendTransaction({
        to: elsewhere.address,
        value: 0n,
        nonce: relayerNonce,
        gasLimit: 21_000n,
        maxFeePerGas: fee,
        maxPriorityFeePerGas: fee,
      });
      await stack.provider.send('evm_mine', []);
      expect(await stack.provider.getTransactionCount(relayer)).toBe(relayerNonce + 1);
    } finally {
      await stack.provider.send('evm_setAutomine', [true]);
    }
    // the relayer notices that none of its attempts can be mined any more and sends the request with the next nonce
    const r = await pending!;
    expect(r.errors).toBeUndefined();
    expect((await stack.owner.market.getStudy(studyId)).radiologist).toBe(rad.wallet.address);
    const { rows } = await db.query(`SELECT status, relayer_nonce FROM relay_requests WHERE signer = $1`, [
      rad.wallet.address.toLowerCase(),
    ]);
    expect(rows).toEqual([{ status: 'MINED', relayer_nonce: String(relayerNonce + 1) }]);
  });

  it('replaces a stuck transaction with the same nonce and a higher fee, and finishes it after an API restart', async () => {
    const studyId = await post();
    const rad = await radiologist();
    const claim = await gasless(rad, studyId);
    const relayerNonce = await stack.provider.getTransactionCount(relayer);
    await stack.provider.send('evm_setAutomine', [false]);
    try {
      const pending = relay(rad.client, claim).catch(() => null); // cut off by the restart below
      const row = await waitFor('a replacement', async () => {
        const { rows } = await db.query(`SELECT * FROM relay_requests WHERE signer = $1 AND status = 'SENT'`, [
          rad.wallet.address.toLowerCase(),
        ]);
        return rows[0]?.attempts.length >= 2 ? rows[0] : null;
      });
      const [first, second] = row.attempts;
      expect(BigInt(second.maxFeePerGas)).toBeGreaterThan(BigInt(first.maxFeePerGas));
      expect(Number(row.relayer_nonce)).toBe(relayerNonce);

      // the API goes away with the transaction in flight; a new one takes over the outbox
      await stack.api.close();
      await pending;
      stack.api = await createApiApp(stack.config);
      await stack.api.init();
      await stack.api.listen(0, '127.0.0.1');
      await stack.provider.send('evm_mine', []);
      const done = await waitFor('the request mined', async () => {
        const { rows } = await db.query(`SELECT * FROM relay_requests WHERE id = $1 AND status = 'MINED'`, [row.id]);
        return rows[0];
      });
      const hashes = done.attempts.map((a: { hash: string }) => a.hash);
      expect(hashes).toContain(done.tx_hash);
      expect(await stack.provider.getTransactionReceipt(first.hash)).toBeNull();
    } finally {
      await stack.provider.send('evm_setAutomine', [true]);
    }
    expect((await stack.owner.market.getStudy(studyId)).radiologist).toBe(rad.wallet.address);
    // one transaction for the request, whatever the attempts and the restart
    expect(await stack.provider.getTransactionCount(relayer)).toBe(relayerNonce + 1);
  });

  it("refuses a radiologist whose relayed spend in the last 24 h is used up, and keeps the other radiologists' allowance", async () => {
    const studyId = await post();
    const spent = await radiologist();
    const other = await radiologist();
    // the spend is a made-up outbox row, removed afterwards so no later test sees a relayer nonce that never was
    const {
      rows: [fake],
    } = await db.query(
      `INSERT INTO relay_requests (chain_id, forwarder, signer, signer_nonce, target, function, data, gas, deadline, signature,
         reserved_wei, status, relayer, relayer_nonce, tx_hash, block_number, cost_wei)
       VALUES ($1, $2, $3, 999, $4, 'claim', '0x', 0, 0, '0x', 0, 'MINED', $5, 999999, '0x00', 1, $6) RETURNING id`,
      [
        stack.config.chainId,
        stack.config.contracts.forwarder,
        spent.wallet.address.toLowerCase(),
        stack.config.contracts.market,
        relayer.toLowerCase(),
        (SPEND_LIMIT - 1000n).toString(),
      ],
    );
    try {
      const refused = await relay(spent.client, await gasless(spent, studyId));
      expect(refused.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', reason: 'SPEND_LIMIT' });
      const ok = await relay(other.client, await gasless(other, studyId));
      expect(ok.errors, JSON.stringify(ok.errors)).toBeUndefined();
    } finally {
      await db.query(`DELETE FROM relay_requests WHERE id = $1`, [fake.id]);
    }
  });
});
