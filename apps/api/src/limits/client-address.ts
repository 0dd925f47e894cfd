import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import proxyaddr from 'proxy-addr';

/** Which hop of a request's address chain (socket first, then X-Forwarded-For right to left) is a trusted proxy. */
export type TrustFn = (address: string, hop: number) => boolean;

/**
 * The trust function for a `trustProxy` setting (libs/config): `false` trusts nothing, so the client is the TCP peer
 * and X-Forwarded-For is ignored; a number trusts that many hops; a list trusts those proxies. Express gets this
 * same function (`trust proxy`), so `req.ip` and the WebSocket path below agree.
 */
export function trustFunction(setting: false | number | string[]): TrustFn {
  if (setting === false) return () => false;
  if (typeof setting === 'number') return (_a, hop) => hop < setting;
  return proxyaddr.compile(setting);
}

/** The client address of a raw request (graphql-ws hands the upgrade request, not an Express one). */
export function addressOf(req: IncomingMessage, trust: TrustFn): string | undefined {
  if (!req.socket?.remoteAddress) return undefined;
  return proxyaddr(req, trust);
}

/**
 * What a client is limited as: an IPv4 address as is (IPv4-mapped IPv6 too), an IPv6 address by its /64 (one
 * subscriber usually holds a whole /64, so single addresses would be free to rotate). Anything unparsable is
 * `unknown` (one shared bucket: fails towards limiting, not towards letting through).
 */
export function clientIdentity(address: string | undefined): string {
  if (!address) return 'unknown';
  let a = address.trim();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(a)) return a;
  if (!isIPv6(a)) return 'unknown';
  const groups = expandIPv6(a);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, lower-case hex without leading zeros. */
function expandIPv6(a: string): string[] {
  let text = a.toLowerCase();
  // a trailing dotted IPv4 part (e.g. 64:ff9b::1.2.3.4) is two groups
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (v4) {
    const [p, q, r, s] = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((p << 8) | q).toString(16)}:${((r << 8) | s).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((g) => parseInt(g, 16).toString(16));
}

/**
 * The bucket key stored for a client: HMAC-SHA256 of its identity under a secret, so the table never holds an
 * address, and a copy of the table alone cannot be reversed by trying all 2^32 IPv4 addresses.
 */
export function clientKey(address: string | undefined, secret: Buffer): Buffer {
  return createHmac('sha256', secret).update(clientIdentity(address)).digest();
}
