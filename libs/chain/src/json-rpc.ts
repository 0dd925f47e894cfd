/**
 * Plain JSON-RPC over fetch for the indexer's bulk reads (ethers' getLogs is slow on large responses:
 * see STACK-NOTES). Transactions and contract calls still go through ethers.
 */
export class JsonRpcError extends Error {
  constructor(
    message: string,
    public readonly code?: number,
  ) {
    super(message);
  }
}

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

export class JsonRpcClient {
  private id = 0;
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 15_000,
  ) {}

  async call<T>(method: string, params: unknown[]): Promise<T> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++this.id, method, params }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new JsonRpcError(`${method}: HTTP ${res.status}`, res.status);
    const body = (await res.json()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw new JsonRpcError(`${method}: ${body.error.message}`, body.error.code);
    return body.result as T;
  }

  async blockNumber(): Promise<number> {
    return Number(await this.call<string>('eth_blockNumber', []));
  }

  async block(n: number | 'latest'): Promise<RpcBlock> {
    const b = await this.call<RpcBlock | null>('eth_getBlockByNumber', [n === 'latest' ? n : toHex(n), false]);
    if (!b) throw new JsonRpcError(`block ${n} not found`);
    return b;
  }

  async logs(addresses: string[], fromBlock: number, toBlock: number): Promise<RpcLog[]> {
    return this.call<RpcLog[]>('eth_getLogs', [{ address: addresses, fromBlock: toHex(fromBlock), toBlock: toHex(toBlock) }]);
  }

  /** eth_getLogs with topic filters (each topic position: one value, a list of alternatives, or null). */
  async filterLogs(filter: { address: string | string[]; topics: (string | string[] | null)[]; fromBlock: number; toBlock: number }): Promise<RpcLog[]> {
    return this.call<RpcLog[]>('eth_getLogs', [{ ...filter, fromBlock: toHex(filter.fromBlock), toBlock: toHex(filter.toBlock) }]);
  }

  /** eth_call against the state at the end of `block`. */
  async ethCall(to: string, data: string, block: number): Promise<string> {
    return this.call<string>('eth_call', [{ to, data }, toHex(block)]);
  }
}

export const toHex = (n: number) => '0x' + n.toString(16);
