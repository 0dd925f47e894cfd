import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { addressOf, clientIdentity, type TrustFn } from './client-address.js';

export interface LaneSpec {
  /** requests of one lane in flight at once */
  inFlight: number;
  /** token bucket: size, and tokens refilled per second */
  burst: number;
  perSecond: number;
}

export interface RequestLimiterSettings {
  /** per client address (IPv6: its /64), for requests without a well-formed bearer token */
  address: LaneSpec;
  /** per bearer token: a signed-in client keeps its own lane, whatever its address's other clients do */
  token: LaneSpec;
  /** most lanes tracked; past it the least recently seen idle ones are forgotten */
  maxLanes: number;
}

interface Lane {
  tokens: number;
  /** ms (performance-independent Date.now) of the last refill */
  at: number;
  inFlight: number;
}

export interface Refusal {
  reason: 'TOO_MANY_REQUESTS' | 'TOO_MANY_IN_FLIGHT';
  retryAfterSeconds: number;
}

/** The session tokens login hands out (auth.service.ts authenticates only this form). */
const BEARER = /^Bearer ([A-Za-z0-9_-]{20,100})$/;

/** Whether an Authorization header has the form of a session token (not whether the session is live). */
export function hasBearer(authorization: string | undefined): boolean {
  return BEARER.test(authorization ?? '');
}

/**
 * Per-client limits kept in this process's memory, checked before anything of a request is read: requests in
 * flight and a token bucket per lane, one token per request whatever it turns out to be (refused at parse or
 * validation, unauthenticated, introspection). This is what bounds an anonymous flood's share of the event loop; the
 * per-operation buckets in Postgres (RateLimitService) stay the shared, durable limit behind it.
 *
 * A request with a well-formed bearer token spends from that token's lane, not its address's: an anonymous flood
 * from the same address (NAT) cannot starve a signed-in client. Made-up tokens each get a fresh lane, but each such
 * request is then refused by authentication after one session lookup, and is still charged per address by the
 * Postgres bucket of unauthenticated calls. Memory is bounded by `maxLanes` (Map order = least recently seen first).
 */
export class RequestLimiter {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly settings: RequestLimiterSettings,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.lanes.size;
  }

  /** The lane of a request: its bearer token's (hashed: no session token is kept) or its client address's. */
  static laneOf(authorization: string | undefined, address: string | undefined): { key: string; token: boolean } {
    const bearer = BEARER.exec(authorization ?? '');
    if (bearer) return { key: 't:' + createHash('sha256').update(bearer[1]).digest('base64'), token: true };
    return { key: 'a:' + clientIdentity(address), token: false };
  }

  /** Admits one request of `key` (then `leave` must follow once) or says why not. */
  enter(key: string, token: boolean): Refusal | null {
    const spec = token ? this.settings.token : this.settings.address;
    const now = this.now();
    let lane = this.lanes.get(key);
    if (lane) {
      this.lanes.delete(key);
      lane.tokens = Math.min(spec.burst, lane.tokens + ((now - lane.at) / 1000) * spec.perSecond);
      lane.at = now;
    } else {
      lane = { tokens: spec.burst, at: now, inFlight: 0 };
    }
    this.lanes.set(key, lane);
    if (this.lanes.size > this.settings.maxLanes) this.evict();
    if (lane.inFlight >= spec.inFlight) return { reason: 'TOO_MANY_IN_FLIGHT', retryAfterSeconds: 1 };
    if (lane.tokens < 1) return { reason: 'TOO_MANY_REQUESTS', retryAfterSeconds: Math.ceil((1 - lane.tokens) / spec.perSecond) };
    lane.tokens -= 1;
    lane.inFlight++;
    return null;
  }

  leave(key: string): void {
    const lane = this.lanes.get(key);
    if (lane && lane.inFlight > 0) lane.inFlight--;
  }

  /** Forgets the least recently seen lanes without requests in flight until the table is back within its bound. */
  private evict(): void {
    for (const [key, lane] of this.lanes) {
      if (this.lanes.size <= this.settings.maxLanes) return;
      if (lane.inFlight === 0) this.lanes.delete(key);
    }
  }
}

/** The bytes of a refusal, built once per (reason, Retry-After): a flood is answered without serialising anything. */
const refusals = new Map<string, Buffer>();
function refusalBytes(refused: Refusal): Buffer {
  const key = `${refused.reason}:${refused.retryAfterSeconds}`;
  let bytes = refusals.get(key);
  if (!bytes) {
    bytes = Buffer.from(
      JSON.stringify({
        errors: [{ message: 'too many requests from this client; slow down', extensions: { code: 'RATE_LIMITED', ...refused } }],
      }),
    );
    if (refusals.size < 1000) refusals.set(key, bytes);
  }
  return bytes;
}

/**
 * Puts the limiter in front of the HTTP server's request listener (Express, then Apollo) for POST /graphql: a request
 * its lane may not make now is answered 429 with `Retry-After` and a GraphQL-shaped RATE_LIMITED error right there,
 * with bytes built once, so a refused request costs neither Express's routing nor a body reader nor Apollo. Its body
 * is not waited for: the connection is closed once the answer is written. (Keeping it open for small bodies was
 * measured worse: the flooding client then gets its answers sooner and sends ~4× as many requests, docs/benchmarks.md.)
 */
export function guardServer(server: Server, limiter: RequestLimiter, trust: TrustFn): void {
  const listeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== '/graphql') return listeners.forEach((l) => l(req, res));
    const { key, token } = RequestLimiter.laneOf(req.headers.authorization, addressOf(req, trust));
    const refused = limiter.enter(key, token);
    if (refused) {
      const bytes = refusalBytes(refused);
      res.writeHead(429, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': bytes.length,
        'retry-after': String(refused.retryAfterSeconds),
        // Node closes a `connection: close` socket as soon as the answer is written (no destroy racing that write)
        connection: 'close',
      });
      res.end(bytes);
      return;
    }
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      limiter.leave(key);
    };
    res.on('finish', leave);
    res.on('close', leave);
    listeners.forEach((l) => l(req, res));
  });
}
