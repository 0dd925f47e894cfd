/**
 * Plain JSON-RPC over fetch for the indexer's bulk reads (ethers' getLogs is slow on large responses:
 * see STACK-NOTES). Transactions and contract calls still go through ethers.
 *
 * Built for a node that misbehaves: every request has a timeout; timeouts, connection errors, HTTP 5xx/429,
 * rate-limit errors and truncated or malformed bodies are retried with exponential backoff and jitter;
 * `eth_getLogs` over a range the node refuses ("range too large", "more than 10000 results") is split in
 * halves until it goes through. Errors that retrying cannot fix (bad params) are thrown at once.
 */
export class JsonRpcError extends Error {
  constructor(
    message: string,
    public readonly code?: number,
    /** worth retrying (timeouts, 5xx, rate limits, truncated bodies) */
    public readonly retryable = false,
  ) {
    super(message);
  }
}

/** The node refused a getLogs range as too large: split it. */
export class RangeTooLargeError extends JsonRpcError {}

export interface RpcLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  transactionHash: string;
  logIndex: string;
  removed?: boolean;
}

export interface RpcBlock {
  number: string;
  hash: string;
  parentHash: string;
  timestamp: string;
}

export interface RpcRetryOptions {
  /** per request, ms (default 15000) */
  timeoutMs?: number;
  /** attempts per request before giving up (default 8) */
  attempts?: number;
  /** first backoff, ms; doubles per attempt with jitter (default 200) */
  backoffMs?: number;
  /** backoff cap, ms (default 10000) */
  maxBackoffMs?: number;
  /** called on every retried failure (for metrics and logs) */
  onRetry?: (method: string, attempt: number, error: Error) => void;
}

const RANGE_TOO_LARGE = [
  /range (is )?too (large|wide|big)/i,
  /block range/i,
  /more than \d+ (results|logs)/i,
  /query returned more than/i,
  /response size (exceeded|too large)/i,
  /log(s)? limit/i,
  /too many (results|logs|blocks)/i,
];
const RATE_LIMITED = [/rate limit/i, /too many requests/i, /exceeded .*capacity/i, /try again/i, /timeout/i, /busy/i];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class JsonRpcClient {
  private id = 0;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly onRetry?: RpcRetryOptions['onRetry'];
  /** requests that failed and were retried, since start (health/metrics) */
  retries = 0;
  /** the widest getLogs range the node has accepted since it first refused one */
  logRangeLimit = Number.MAX_SAFE_INTEGER;

  constructor(
    private readonly url: string,
    opts: RpcRetryOptions | number = {},
  ) {
    const o = typeof opts === 'number' ? { timeoutMs: opts } : opts;
    this.timeoutMs = o.timeoutMs ?? 15_000;
    this.attempts = o.attempts ?? 8;
    this.backoffMs = o.backoffMs ?? 200;
    this.maxBackoffMs = o.maxBackoffMs ?? 10_000;
    this.onRetry = o.onRetry;
  }

  /** One request, retried on transient failures. */
  async call<T>(method: string, params: unknown[]): Promise<T> {
    return this.retrying(method, () => this.once<T>(method, params));
  }

  /** Several requests in one JSON-RPC batch (answers in request order), retried as a whole. */
  async batch<T>(calls: { method: string; params: unknown[] }[]): Promise<T[]> {
    if (calls.length === 0) return [];
    const label = `batch(${calls[0].method} ×${calls.length})`;
    return this.retrying(label, async () => {
      const first = this.id + 1;
      this.id += calls.length;
      const body = await this.post(
        label,
        calls.map((c, i) => ({ jsonrpc: '2.0', id: first + i, method: c.method, params: c.params })),
      );
      if (!Array.isArray(body)) {
        const single = body as { error?: { code: number; message: string } };
        if (single?.error) throw classify(label, single.error.code, single.error.message);
        throw new JsonRpcError(`${label}: malformed batch response`, undefined, true);
      }
      const byId = new Map<number, { result?: T; error?: { code: number; message: string } }>();
      for (const r of body as { id: number; result?: T; error?: { code: number; message: string } }[]) byId.set(Number(r.id), r);
      return calls.map((c, i) => {
        const r = byId.get(first + i);
        if (!r) throw new JsonRpcError(`${label}: answer ${i} missing`, undefined, true);
        if (r.error) throw classify(c.method, r.error.code, r.error.message);
        return r.result as T;
      });
    });
  }

  async blockNumber(): Promise<number> {
    const n = await this.call<string>('eth_blockNumber', []);
    if (typeof n !== 'string' || !/^0x[0-9a-f]+$/i.test(n)) throw new JsonRpcError(`eth_blockNumber: malformed answer`);
    return Number(n);
  }

  /** A header, or null when the chain has no block at that height (it got shorter). */
  async blockOrNull(n: number | 'latest'): Promise<RpcBlock | null> {
    const b = await this.call<RpcBlock | null>('eth_getBlockByNumber', [n === 'latest' ? n : toHex(n), false]);
    if (b !== null) checkBlock(b, n);
    return b;
  }

  async block(n: number | 'latest'): Promise<RpcBlock> {
    const b = await this.blockOrNull(n);
    if (!b) throw new JsonRpcError(`block ${n} not found`, undefined, true);
    return b;
  }

  /** Headers of many blocks, batched (null where the chain has no such block). */
  async blocks(numbers: number[], chunk = 200): Promise<(RpcBlock | null)[]> {
    const out: (RpcBlock | null)[] = [];
    for (let i = 0; i < numbers.length; i += chunk) {
      const part = numbers.slice(i, i + chunk);
      const got = await this.batch<RpcBlock | null>(part.map((n) => ({ method: 'eth_getBlockByNumber', params: [toHex(n), false] })));
      got.forEach((b, j) => {
        if (b !== null) checkBlock(b, part[j]);
      });
      out.push(...got);
    }
    return out;
  }

  /**
   * Logs of `addresses` over [fromBlock, toBlock]; a range the node refuses as too large is split in halves
   * (down to one block) until every part goes through.
   */
  async logs(addresses: string[], fromBlock: number, toBlock: number): Promise<RpcLog[]> {
    if (toBlock - fromBlock + 1 > this.logRangeLimit) return this.split(addresses, fromBlock, toBlock);
    try {
      const logs = await this.call<RpcLog[]>('eth_getLogs', [{ address: addresses, fromBlock: toHex(fromBlock), toBlock: toHex(toBlock) }]);
      if (!Array.isArray(logs)) throw new JsonRpcError('eth_getLogs: malformed answer (not an array)');
      for (const l of logs) checkLog(l, fromBlock, toBlock);
      return logs;
    } catch (e) {
      if (!(e instanceof RangeTooLargeError)) throw e;
      // a single block refused as too large cannot be split: report it as a failure worth retrying later
      if (fromBlock >= toBlock) throw new JsonRpcError(`${e.message} (block ${fromBlock} alone)`, e.code, true);
      // remember: later requests go straight to ranges the node accepts
      this.logRangeLimit = Math.max(1, Math.floor((toBlock - fromBlock + 1) / 2));
      return this.split(addresses, fromBlock, toBlock);
    }
  }

  private async split(addresses: string[], fromBlock: number, toBlock: number): Promise<RpcLog[]> {
    const mid = Math.floor((fromBlock + toBlock) / 2);
    const left = await this.logs(addresses, fromBlock, mid);
    const right = await this.logs(addresses, mid + 1, toBlock);
    return left.concat(right);
  }

  private async retrying<T>(label: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const err = e instanceof JsonRpcError ? e : new JsonRpcError(`${label}: ${(e as Error).message}`, undefined, true);
        if (!err.retryable || attempt >= this.attempts) throw err;
        this.retries++;
        this.onRetry?.(label, attempt, err);
        const base = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        await sleep(base / 2 + Math.random() * (base / 2));
      }
    }
  }

  private async once<T>(method: string, params: unknown[]): Promise<T> {
    const body = (await this.post(method, { jsonrpc: '2.0', id: ++this.id, method, params })) as {
      result?: T;
      error?: { code: number; message: string };
    };
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new JsonRpcError(`${method}: malformed response`, undefined, true);
    if (body.error) throw classify(method, body.error.code, body.error.message);
    if (!('result' in body)) throw new JsonRpcError(`${method}: response without result`, undefined, true);
    return body.result as T;
  }

  private async post(label: string, payload: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error;
      const why = err.name === 'TimeoutError' || err.name === 'AbortError' ? `timed out after ${this.timeoutMs} ms` : err.message;
      throw new JsonRpcError(`${label}: ${why}`, undefined, true);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new JsonRpcError(`${label}: body interrupted (${(e as Error).message})`, undefined, true);
    }
    if (!res.ok) {
      // 429 and 5xx are transient; a 413 is a range that is too large; other 4xx are our fault
      if (res.status === 413) throw new RangeTooLargeError(`${label}: HTTP 413`, 413, false);
      throw new JsonRpcError(`${label}: HTTP ${res.status}`, res.status, res.status === 429 || res.status >= 500);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new JsonRpcError(`${label}: truncated or malformed JSON (${text.length} bytes)`, undefined, true);
    }
  }

  /** eth_getLogs with topic filters (each topic position: one value, a list of alternatives, or null). */
  async filterLogs(filter: {
    address: string | string[];
    topics: (string | string[] | null)[];
    fromBlock: number;
    toBlock: number;
  }): Promise<RpcLog[]> {
    return this.call<RpcLog[]>('eth_getLogs', [{ ...filter, fromBlock: toHex(filter.fromBlock), toBlock: toHex(filter.toBlock) }]);
  }

  /** eth_call against the state at the end of `block`. */
  async ethCall(to: string, data: string, block: number): Promise<string> {
    return this.call<string>('eth_call', [{ to, data }, toHex(block)]);
  }

  /** Many eth_calls against one block's state, in JSON-RPC batches of `perBatch` (answers in order). */
  async ethCalls(calls: { to: string; data: string }[], block: number, perBatch = 200): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < calls.length; i += perBatch)
      out.push(...(await this.batch<string>(calls.slice(i, i + perBatch).map((c) => ({ method: 'eth_call', params: [c, toHex(block)] })))));
    return out;
  }
}

function classify(method: string, code: number, message: string): JsonRpcError {
  const msg = `${method}: ${message}`;
  // a rate limit first: "limit exceeded, try again" is not about the range
  if (code === 429 || RATE_LIMITED.some((r) => r.test(message))) return new JsonRpcError(msg, code, true);
  if (method === 'eth_getLogs' && RANGE_TOO_LARGE.some((r) => r.test(message))) return new RangeTooLargeError(msg, code, false);
  // -32005 limit exceeded (EIP-1474), -32603 internal, -32000 generic server error (often transient)
  const transient = code === -32005 || code === -32603 || code === -32000;
  return new JsonRpcError(msg, code, transient);
}

const HEX = /^0x[0-9a-f]*$/i;
const HASH = /^0x[0-9a-f]{64}$/i;

function checkBlock(b: RpcBlock, n: number | 'latest') {
  if (
    typeof b !== 'object' ||
    !HASH.test(b.hash ?? '') ||
    !HASH.test(b.parentHash ?? '') ||
    !HEX.test(b.number ?? '') ||
    !HEX.test(b.timestamp ?? '')
  )
    throw new JsonRpcError(`block ${n}: malformed header`, undefined, true);
  if (n !== 'latest' && Number(b.number) !== n)
    throw new JsonRpcError(`block ${n}: node answered block ${Number(b.number)}`, undefined, true);
}

function checkLog(l: RpcLog, from: number, to: number) {
  if (
    typeof l !== 'object' ||
    !HASH.test(l.blockHash ?? '') ||
    !HASH.test(l.transactionHash ?? '') ||
    !HEX.test(l.logIndex ?? '') ||
    !Array.isArray(l.topics)
  )
    throw new JsonRpcError('eth_getLogs: malformed log', undefined, true);
  const n = Number(l.blockNumber);
  if (!(n >= from && n <= to)) throw new JsonRpcError(`eth_getLogs: log of block ${n} outside ${from}..${to}`, undefined, true);
}

export const toHex = (n: number) => '0x' + n.toString(16);
