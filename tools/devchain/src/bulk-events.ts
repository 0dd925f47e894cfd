import { Interface, keccak256, toBeHex } from 'ethers';
import { loadArtifact, studyIdIssuerFor } from '#chain';

/**
 * Generates many market events on anvil quickly, for backfill tests and the benchmark: automine off, batches of
 * `eth_sendTransaction` from anvil's unlocked dev accounts (no signing in JS), one `evm_mine` per block.
 * Half the transactions are `deposit(1)` (Deposited), half `postStudy(..., maxBounty 1)` (StudyPosted), from
 * several ROs that must already hold tokens approved to the market. Each posting carries an issuance signed in the
 * same loop with the market's study-ID issuer key (studyIdIssuerFor: ~0.4 ms each, overlapping the node's work).
 */
export interface BulkOptions {
  rpcUrl: string;
  market: string;
  /** RO addresses (unlocked on anvil), funded and approved */
  ros: string[];
  /** the market's study-ID issuer key (postStudy accepts only IDs it signed for the posting RO) */
  studyIdIssuerKey: string;
  events: number;
  perBlock: number;
  seed?: number;
  onProgress?: (done: number) => void;
}

/** A JSON-RPC answer; the methods called here answer a hex quantity, a boolean or null. */
interface RpcAnswer {
  id?: number;
  result?: string | boolean | null;
  error?: { message: string };
}

async function rpc<T extends RpcAnswer | RpcAnswer[]>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as T;
}

export async function generateBulkEvents(o: BulkOptions): Promise<{ blocks: number; events: number }> {
  const market = new Interface(loadArtifact('StudyMarket').abi);
  const call = async (method: string, params: unknown[] = []) => {
    const r = await rpc<RpcAnswer>(o.rpcUrl, { jsonrpc: '2.0', id: 1, method, params });
    if (r.error) throw new Error(`${method}: ${r.error.message}`);
    return r.result;
  };
  const issue = studyIdIssuerFor(o.studyIdIssuerKey, o.market, BigInt(String(await call('eth_chainId'))));
  const issuedUntil = BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * 86400); // far beyond any bench's chain time
  const nonces = new Map<string, number>();
  for (const ro of o.ros) nonces.set(ro, Number(String(await call('eth_getTransactionCount', [ro, 'latest']))));
  // each RO deposits enough for its share of 1-unit escrows up front
  await call('evm_setAutomine', [false]);
  try {
    const share = BigInt(Math.ceil(o.events / o.ros.length) + 10);
    const txs = o.ros.map((ro) => ({
      from: ro,
      to: o.market,
      data: market.encodeFunctionData('deposit', [share]),
      nonce: toBeHex(nonces.get(ro)!),
      gas: toBeHex(200_000),
    }));
    for (const ro of o.ros) nonces.set(ro, nonces.get(ro)! + 1);
    await sendBatch(o.rpcUrl, txs);
    await call('evm_mine');

    let done = 0;
    let blocks = 0;
    let k = o.seed ?? 0;
    while (done < o.events) {
      const n = Math.min(o.perBlock, o.events - done);
      const batch = [];
      for (let i = 0; i < n; i++) {
        const ro = o.ros[(done + i) % o.ros.length];
        const nonce = nonces.get(ro)!;
        nonces.set(ro, nonce + 1);
        let data: string;
        if ((done + i) % 2 === 0) data = market.encodeFunctionData('deposit', [1n]);
        else {
          const studyId = keccak256(toBeHex(BigInt(++k) * 1_000_003n + BigInt(o.seed ?? 0), 32));
          const { issuance } = issue(ro, studyId, issuedUntil);
          data = market.encodeFunctionData('postStudy', [
            studyId,
            (done + i) % 7,
            10_000,
            (done + i) % 3,
            (done + i) % 51,
            1n,
            issuedUntil,
            issuance,
          ]);
        }
        batch.push({ from: ro, to: o.market, data, nonce: toBeHex(nonce), gas: toBeHex(300_000) });
      }
      await sendBatch(o.rpcUrl, batch);
      await call('evm_mine');
      blocks++;
      done += n;
      o.onProgress?.(done);
    }
    return { blocks: blocks + 1, events: done + o.ros.length };
  } finally {
    await call('evm_setAutomine', [true]);
  }
}

async function sendBatch(url: string, txs: unknown[]) {
  for (let i = 0; i < txs.length; i += 1000) {
    const part = txs.slice(i, i + 1000);
    const answers = await rpc<RpcAnswer[]>(
      url,
      part.map((tx, j) => ({ jsonrpc: '2.0', id: j, method: 'eth_sendTransaction', params: [tx] })),
    );
    const failed = answers.find((a) => a.error);
    if (failed?.error) throw new Error(`eth_sendTransaction: ${failed.error.message}`);
  }
}
