import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Contract, HDNodeWallet, Interface, TypedDataEncoder, Wallet, hexlify, parseUnits, toUtf8Bytes } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppLogger } from '#config';
import { DEV_ROLES } from '#devchain';
import { createApiApp } from '#api';
import { FORWARD_REQUEST_TYPES, loadArtifact, mined } from '#chain';
import { GqlClient } from './support/client.js';
import { ctRadiologist, fundRo, postCtStudy } from './support/funding.js';
import { TransactionSender } from '#settler';
import { Stack, devWallet, startSettler, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const SPEND_LIMIT = 10n ** 17n;
const GASLESS = `request { from to value gas nonce deadline data } domain { name version chainId verifyingContract }`;
const RELAY = `mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash blockNumber function } }`;
const STATUS = `query($h: String!) { gaslessRequest(hash: $h) { requestHash status function nonce txHash blockNumber errorCode errorMessage reason } }`;
const forwarderAbi = new Interface(loadArtifact('OpenReadForwarder').abi);

/**
 * A JSON-RPC pass-through to anvil that can refuse eth_sendRawTransaction the way a production node refuses a
 * transaction for good (here: every forwarder `execute` while `refuseExecute` is set), or answer transaction and
 * receipt lookups like a lagging node behind a load balancer (null while `lagging` is set).
 */
async function refusingProxy(target: string) {
  const state = { refuseExecute: false, refused: 0, lagging: false };
  const selector = forwarderAbi.getFunction('execute')!.selector.slice(2);
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const body = JSON.parse(raw);
    if (
      !Array.isArray(body) &&
      body.method === 'eth_sendRawTransaction' &&
      state.refuseExecute &&
      String(body.params[0]).includes(selector)
    ) {
      state.refused++;
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: body.id, error: { code: -32000, message: 'oversized data' } }));
    }
    // a node behind the others: it has not seen recent transactions yet
    if (!Array.isArray(body) && state.lagging && ['eth_getTransactionReceipt', 'eth_getTransactionByHash'].includes(body.method))
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: body.id, result: null }));
    const answer = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('gasless relaying under attack and faults (issues 13.1 and 22)', () => {
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
  beforeEach(async () => {
    await stack.provider.send('evm_mine', []);
  });

  const post = () => postCtStudy(stack);

  const radiologist = () => ctRadiologist(stack);

  async function prepared(r: { client: GqlClient }, studyId: string) {
    const { p } = await r.client.ok(`mutation($id: ID!) { p: prepareGaslessClaim(studyId: $id) { ${GASLESS} } }`, { id: studyId });
    return p as { request: Record<string, string | number>; domain: Record<string, string | number> };
  }
  const sign = (wallet: HDNodeWallet, p: { request: Record<string, string | number>; domain: Record<string, string | number> }) =>
    wallet.signTypedData(p.domain, FORWARD_REQUEST_TYPES, p.request);
  const relay = (c: GqlClient, request: unknown, signature: string) => c.send(RELAY, { r: request, s: signature });

  /** The worker stopped (nothing is sent) while `fn` runs, then started again. */
  async function withWorkerStopped<T>(fn: () => Promise<T>): Promise<T> {
    await stack.settler.close();
    try {
      return await fn();
    } finally {
      stack.settler = await startSettler(stack.config);
    }
  }

  it('accepts only canonical, bounded calldata and a deadline at most the configured TTL away', async () => {
    const studyId = await post();
    const rad = await radiologist();
    const p = await prepared(rad, studyId);
    const nonce = await stack.provider.getTransactionCount(relayer);
    // trailing bytes that every decoder ignores: once a few, once enough to exceed what a node accepts
    for (const pad of [32, 130 * 1024]) {
      const request = { ...p.request, data: `${p.request.data}${'00'.repeat(pad)}` };
      const r = await relay(rad.client, request, await sign(rad.wallet, { ...p, request }));
      expect(r.errors?.[0].extensions?.code, `padding of ${pad} bytes`).toBe('BAD_INPUT');
    }
    // a far-future deadline (signed validly) is refused
    const late = { ...p.request, deadline: Number(p.request.deadline) + 3600 };
    const r = await relay(rad.client, late, await sign(rad.wallet, { ...p, request: late }));
    expect(r.errors?.[0].extensions?.code).toBe('BAD_INPUT');
    expect(r.errors?.[0].message).toMatch(/deadline/);
    // an unbounded signature string is refused before anything else
    const long = await relay(rad.client, p.request, `0x${'ab'.repeat(100_000)}`);
    expect(long.errors?.[0].extensions?.code).toBe('BAD_INPUT');
    expect(await stack.provider.getTransactionCount(relayer)).toBe(nonce);
    // the canonical request still goes through
    const ok = await relay(rad.client, p.request, await sign(rad.wallet, p));
    expect(ok.errors).toBeUndefined();
  });

  it('pays about 1 gwei of priority fee on the local chain, and never more than the cap after an outsized tip', async () => {
    // someone else pays a 100 gwei tip in the latest block (anvil then suggests it to everyone)
    const other = devWallet(DEV_ROLES.spare[0], stack.provider);
    const tip = parseUnits('100', 'gwei');
    await mined(other.sendTransaction({ to: other.address, value: 0n, maxPriorityFeePerGas: tip, maxFeePerGas: tip * 2n }));
    const studyId = await post();
    const rad = await radiologist();
    const p = await prepared(rad, studyId);
    const ok = await relay(rad.client, p.request, await sign(rad.wallet, p));
    expect(ok.errors).toBeUndefined();
    const tx = (await stack.provider.getTransaction(ok.data.relayGasless.txHash))!;
    expect(tx.maxPriorityFeePerGas!).toBeLessThanOrEqual(stack.config.relay.maxPriorityFeeWei);
    expect(tx.maxPriorityFeePerGas!).toBeGreaterThan(0n);
  });

  it('returns the same record for the same signed request after the API died mid-relay: one transaction, status by hash', async () => {
    const studyId = await post();
    const rad = await radiologist();
    const p = await prepared(rad, studyId);
    const signature = await sign(rad.wallet, p);
    const hash = TypedDataEncoder.hash(p.domain, FORWARD_REQUEST_TYPES, p.request);
    const rival = await radiologist();
    const nonce = await stack.provider.getTransactionCount(relayer);
    await stack.provider.send('evm_setAutomine', [false]);
    try {
      const first = relay(rad.client, p.request, signature).catch(() => null); // cut off by the API's death
      await waitFor('the request sent', async () => {
        const { rows } = await db.query(`SELECT status FROM relay_requests WHERE request_hash = $1`, [hash.toLowerCase()]);
        return rows[0]?.status === 'SENT';
      });
      await stack.api.close();
      await first;
      stack.api = await createApiApp(stack.config);
      await stack.api.init();
      await stack.api.listen(0, '127.0.0.1');
      const client = new GqlClient(stack.api);
      await client.signIn(rad.wallet);
      const sent = await client.ok(STATUS, { h: hash });
      expect(sent.gaslessRequest).toMatchObject({ requestHash: hash.toLowerCase(), status: 'SENT', function: 'claim' });
      // the client sends the same signed request again: it waits for the same transaction
      const again = relay(client, p.request, signature);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await stack.provider.send('evm_mine', []);
      const r = await again;
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      const done = await client.ok(STATUS, { h: hash });
      expect(done.gaslessRequest).toMatchObject({ status: 'MINED', txHash: r.data.relayGasless.txHash });
      // and once more, after it is mined: the same answer, nothing sent
      const third = await relay(client, p.request, signature);
      expect(third.data.relayGasless.txHash).toBe(r.data.relayGasless.txHash);
      // another account cannot read it
      const rivalClient = new GqlClient(stack.api);
      await rivalClient.signIn(rival.wallet);
      expect(await rivalClient.code(STATUS, { h: hash })).toBe('NOT_FOUND');
    } finally {
      await stack.provider.send('evm_setAutomine', [true]);
    }
    expect(await stack.provider.getTransactionCount(relayer)).toBe(nonce + 1);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM relay_requests WHERE signer = $1`, [rad.wallet.address.toLowerCase()]);
    expect(rows[0].n).toBe(1);
  });

  it("answers with the front-runner's transaction when the signed request was executed first, and the relayer sends nothing", async () => {
    const studyId = await post();
    const rad = await radiologist();
    const p = await prepared(rad, studyId);
    const signature = await sign(rad.wallet, p);
    const nonce = await stack.provider.getTransactionCount(relayer);
    const { pending, frontRun } = await withWorkerStopped(async () => {
      const pending = relay(rad.client, p.request, signature);
      await waitFor('the request queued', async () => {
        const { rows } = await db.query(`SELECT 1 FROM relay_requests WHERE signer = $1 AND status = 'QUEUED'`, [
          rad.wallet.address.toLowerCase(),
        ]);
        return rows.length > 0;
      });
      // someone who saw the signed request executes it directly through the forwarder
      const attacker = devWallet(DEV_ROLES.spare[1], stack.provider);
      const forwarder = new Contract(stack.config.contracts.forwarder!, forwarderAbi, attacker);
      const receipt = await mined(forwarder.execute({ ...p.request, signature }));
      return { pending, frontRun: receipt!.hash };
    });
    const r = await pending;
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(r.data.relayGasless.txHash).toBe(frontRun);
    expect(await stack.provider.getTransactionCount(relayer)).toBe(nonce);
    const { rows } = await db.query(`SELECT status, cost_wei FROM relay_requests WHERE signer = $1`, [rad.wallet.address.toLowerCase()]);
    expect(rows).toEqual([{ status: 'MINED', cost_wei: '0' }]);
  });

  it('checks the spend limit again at send time, with the cost of then', async () => {
    const studyId = await post();
    const rad = await radiologist();
    const p = await prepared(rad, studyId);
    const signature = await sign(rad.wallet, p);
    const nonce = await stack.provider.getTransactionCount(relayer);
    // (the pending answer wrapped: a promise returned from the callback would be awaited before the worker restarts)
    const { pending } = await withWorkerStopped(async () => {
      const pending = relay(rad.client, p.request, signature);
      const row = await waitFor('the request queued', async () => {
        const { rows } = await db.query(`SELECT id, reserved_wei FROM relay_requests WHERE signer = $1 AND status = 'QUEUED'`, [
          rad.wallet.address.toLowerCase(),
        ]);
        return rows[0];
      });
      // the signer's other spend grew meanwhile (a made-up mined row): what is left no longer covers the request
      await db.query(
        `INSERT INTO relay_requests (chain_id, forwarder, signer, signer_nonce, target, function, data, gas, deadline, signature,
           reserved_wei, status, relayer, relayer_nonce, tx_hash, block_number, cost_wei)
         VALUES ($1, $2, $3, 999, $4, 'claim', '0x', 0, 0, '0x', 0, 'MINED', $5, 999999, '0x00', 1, $6)`,
        [
          stack.config.chainId,
          stack.config.contracts.forwarder,
          rad.wallet.address.toLowerCase(),
          stack.config.contracts.market,
          relayer.toLowerCase(),
          (SPEND_LIMIT - 1000n).toString(),
        ],
      );
      expect(BigInt(row.reserved_wei)).toBeGreaterThan(1000n);
      return { pending };
    });
    try {
      const r = await pending;
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', reason: 'SPEND_LIMIT' });
      expect(await stack.provider.getTransactionCount(relayer)).toBe(nonce);
    } finally {
      await db.query(`DELETE FROM relay_requests WHERE signer = $1 AND relayer_nonce = 999999`, [rad.wallet.address.toLowerCase()]);
    }
  });

  it('fails a request whose transaction the node refuses, fills the nonce with a self-transfer, and keeps relaying', async () => {
    const proxy = await refusingProxy(stack.config.rpcUrl);
    await stack.settler.close();
    // the worker's lines as production writes them (JSON), to follow the refused send across its lines by its id
    const lines: Record<string, unknown>[] = [];
    const logger = new AppLogger('settler', { json: true, destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
    stack.settler = await startSettler({ ...stack.config, rpcUrl: proxy.url }, logger);
    try {
      const nonce = await stack.provider.getTransactionCount(relayer);
      const studyA = await post();
      const studyB = await post();
      const rad = await radiologist();
      const other = await radiologist();
      const p = await prepared(rad, studyA);
      proxy.state.refuseExecute = true;
      const refused = await relay(rad.client, p.request, await sign(rad.wallet, p));
      expect(refused.errors?.[0].extensions?.code, JSON.stringify(refused.errors)).toBe('CONFLICT');
      expect(proxy.state.refused).toBeGreaterThan(0);
      proxy.state.refuseExecute = false;
      // the nonce the refused transaction had is used by a 0-value transfer to the relayer itself
      await waitFor('the nonce filled', async () => (await stack.provider.getTransactionCount(relayer)) === nonce + 1);
      // the refused send's line carries the id of that send attempt (one id per attempt: its lines can be followed)
      const refusedLine = lines.find((l) => /refused by the node: .*filling the nonce/.test(String(l.msg)));
      expect(refusedLine?.reqId, JSON.stringify(lines.map((l) => l.msg))).toMatch(/^send-[0-9a-f]{8}$/);
      const { rows } = await db.query(`SELECT status, tx_hash FROM relay_requests WHERE purpose = 'nonce-fill'`);
      expect(rows.length).toBe(1);
      const fill = (await stack.provider.getTransaction(rows[0].tx_hash))!;
      expect(fill).toMatchObject({ from: relayer, to: relayer, value: 0n, nonce });
      // the next request is not stuck behind a nonce gap
      const q = await prepared(other, studyB);
      const ok = await relay(other.client, q.request, await sign(other.wallet, q));
      expect(ok.errors, JSON.stringify(ok.errors)).toBeUndefined();
      expect(await stack.provider.getTransactionCount(relayer)).toBe(nonce + 2);
    } finally {
      await stack.settler.close();
      stack.settler = await startSettler(stack.config);
      await proxy.close();
    }
  });

  it("refuses to sign a transaction over the nodes' 128 KiB limit without spending a nonce, and sends the next row", async () => {
    const treasuryKey = devWallet(DEV_ROLES.treasuryRelayer, stack.provider);
    const nonce = await stack.provider.getTransactionCount(treasuryKey.address);
    const target = Wallet.createRandom().address.toLowerCase();
    const insert = (data: string) =>
      db.query(
        `INSERT INTO relay_requests (chain_id, purpose, sender, target, function, data) VALUES ($1, 'treasury', $2, $3, 'payout', $4) RETURNING id`,
        [stack.config.chainId, treasuryKey.address.toLowerCase(), target, data],
      );
    const big = await insert(hexlify(toUtf8Bytes('x'.repeat(130 * 1024))));
    const small = await insert('0x');
    const done = await waitFor('both rows final', async () => {
      const { rows } = await db.query(`SELECT id, status, error_code FROM relay_requests WHERE id = ANY($1) ORDER BY id`, [
        [big.rows[0].id, small.rows[0].id],
      ]);
      return rows.every((r) => !['QUEUED', 'SENT'].includes(r.status)) ? rows : null;
    });
    expect(done.map((r) => r.status)).toEqual(['FAILED', 'MINED']);
    expect(done[0].error_code).toBe('BAD_INPUT');
    expect(await stack.provider.getTransactionCount(treasuryKey.address)).toBe(nonce + 1);
  });

  it("reports the relayer's lane as stalled while its nonce does not advance with transactions in flight, and clears it once mined", async () => {
    const studyId = await post();
    const rad = await radiologist();
    const p = await prepared(rad, studyId);
    const signature = await sign(rad.wallet, p);
    const lane = () =>
      stack.settler
        .get(TransactionSender)
        .health()
        .find((l) => l.address === relayer.toLowerCase())!;
    expect(lane().stalled).toBe(false);
    await stack.provider.send('evm_setAutomine', [false]);
    let pending: ReturnType<typeof relay> | undefined;
    try {
      pending = relay(rad.client, p.request, signature);
      await waitFor('the lane reported stalled', async () => lane().stalled, 20_000);
      expect(lane().inFlight).toBe(1);
    } finally {
      await stack.provider.send('evm_setAutomine', [true]);
      await stack.provider.send('evm_mine', []);
    }
    expect((await pending!).errors).toBeUndefined();
    await waitFor('the stall cleared', async () => !lane().stalled);
  });

  it('does not requeue a mined transaction because a lagging node has no receipt for it yet', async () => {
    const proxy = await refusingProxy(stack.config.rpcUrl);
    await stack.settler.close();
    // the worker's lines as production writes them (JSON), to follow the refused send across its lines by its id
    const lines: Record<string, unknown>[] = [];
    const logger = new AppLogger('settler', { json: true, destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
    stack.settler = await startSettler({ ...stack.config, rpcUrl: proxy.url }, logger);
    try {
      const studyId = await post();
      const rad = await radiologist();
      const p = await prepared(rad, studyId);
      const nonce = await stack.provider.getTransactionCount(relayer);
      proxy.state.lagging = true;
      const pending = relay(rad.client, p.request, await sign(rad.wallet, p));
      // mined at once (anvil), while the sender's lookups see nothing for a few seconds
      await waitFor('the transaction mined', async () => (await stack.provider.getTransactionCount(relayer)) === nonce + 1);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      proxy.state.lagging = false;
      const r = await pending;
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      expect(await stack.provider.getTransactionCount(relayer)).toBe(nonce + 1);
      const { rows } = await db.query(`SELECT status, relayer_nonce FROM relay_requests WHERE signer = $1`, [
        rad.wallet.address.toLowerCase(),
      ]);
      expect(rows).toEqual([{ status: 'MINED', relayer_nonce: String(nonce) }]);
    } finally {
      await stack.settler.close();
      stack.settler = await startSettler(stack.config);
      await proxy.close();
    }
  });
});
