import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { seededRandom } from '#domain';

export type FaultKind = 'http500' | 'http503' | 'http429' | 'timeout' | 'reset' | 'truncated' | 'rpcRateLimit' | 'rpcInternal';
export const ALL_FAULTS: FaultKind[] = ['http500', 'http503', 'http429', 'timeout', 'reset', 'truncated', 'rpcRateLimit', 'rpcInternal'];

export interface FaultOptions {
  seed?: number;
  /** probability that a request fails (0..1) */
  rate?: number;
  kinds?: FaultKind[];
  /** eth_getLogs over more blocks than this is refused ("block range too large") */
  maxLogRange?: number;
  /** every log of an eth_getLogs answer is delivered this many times */
  duplicateLogs?: number;
  /** how long a "timeout" request hangs before the socket is dropped, ms */
  hangMs?: number;
}

/** A JSON-RPC request as the proxy reads it (getLogs' filter is the only params it looks into). */
interface RpcCall {
  jsonrpc: string;
  id: number | string | null;
  method: string;
  params: [{ fromBlock: string; toBlock: string }, ...unknown[]];
}

/**
 * A JSON-RPC proxy in front of anvil (on 127.0.0.1) that misbehaves like a real node provider: seeded random
 * HTTP 5xx/429, hangs, dropped connections, truncated bodies, JSON-RPC rate-limit and internal errors,
 * getLogs range limits, and duplicated logs.
 */
export async function startFaultProxy(target: string, opts: FaultOptions = {}) {
  const rnd = seededRandom(opts.seed ?? 1);
  const state = {
    rate: opts.rate ?? 0,
    kinds: opts.kinds ?? ALL_FAULTS,
    duplicateLogs: opts.duplicateLogs ?? 1,
    maxLogRange: opts.maxLogRange,
  };
  const stats: Record<string, number> = { requests: 0, rangeRefused: 0 };
  const sockets = new Set<Socket>();

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString();
    stats.requests++;
    let body: RpcCall | RpcCall[];
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const calls: RpcCall[] = Array.isArray(body) ? body : [body];

    if (state.rate > 0 && rnd.next() < state.rate) {
      const kind = rnd.pick(state.kinds);
      stats[kind] = (stats[kind] ?? 0) + 1;
      switch (kind) {
        case 'http500':
          return void res.writeHead(500).end('internal error');
        case 'http503':
          return void res.writeHead(503).end('service unavailable');
        case 'http429':
          return void res.writeHead(429).end('too many requests');
        case 'reset':
          return void req.socket.destroy();
        case 'timeout':
          setTimeout(() => req.socket.destroy(), opts.hangMs ?? 3_000);
          return;
        case 'rpcRateLimit':
        case 'rpcInternal': {
          const error =
            kind === 'rpcRateLimit'
              ? { code: -32005, message: 'rate limit exceeded, try again later' }
              : { code: -32603, message: 'internal error' };
          const answer = calls.map((c) => ({ jsonrpc: '2.0', id: c.id, error }));
          return void res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify(Array.isArray(body) ? answer : answer[0]));
        }
        case 'truncated': {
          const text = await forward(target, raw);
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
        }
      }
    }

    if (state.maxLogRange !== undefined) {
      const tooWide = calls.find(
        (c) => c.method === 'eth_getLogs' && Number(c.params[0].toBlock) - Number(c.params[0].fromBlock) + 1 > state.maxLogRange!,
      );
      if (tooWide) {
        stats.rangeRefused++;
        const error = { code: -32602, message: `block range too large: max ${state.maxLogRange} blocks` };
        const answer = calls.map((c) => ({ jsonrpc: '2.0', id: c.id, error }));
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify(Array.isArray(body) ? answer : answer[0]));
      }
    }

    let text = await forward(target, raw);
    if (state.duplicateLogs > 1 && calls.some((c) => c.method === 'eth_getLogs')) {
      const parsed = JSON.parse(text);
      const answers: { result?: unknown }[] = Array.isArray(parsed) ? parsed : [parsed];
      for (const a of answers) {
        if (Array.isArray(a.result) && a.result.length && (a.result[0] as { logIndex?: unknown })?.logIndex !== undefined) {
          a.result = a.result.flatMap((l: unknown) => Array.from({ length: state.duplicateLogs }, () => l));
        }
      }
      text = JSON.stringify(Array.isArray(parsed) ? answers : answers[0]);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(text);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    set(o: Partial<Pick<FaultOptions, 'rate' | 'kinds' | 'duplicateLogs' | 'maxLogRange'>>) {
      Object.assign(state, o);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function forward(target: string, raw: string): Promise<string> {
  const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
  return res.text();
}
