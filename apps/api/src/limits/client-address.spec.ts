import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { addressOf, clientIdentity, clientKey, trustFunction } from './client-address.js';

const request = (peer: string, forwardedFor?: string) =>
  ({
    socket: { remoteAddress: peer },
    connection: { remoteAddress: peer },
    headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
  }) as unknown as IncomingMessage;

describe('client addresses for rate limits', () => {
  it('keeps IPv4 (also IPv4-mapped) and reduces IPv6 to its /64, whatever the spelling', () => {
    expect(clientIdentity('203.0.113.7')).toBe('203.0.113.7');
    expect(clientIdentity('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientIdentity('::FFFF:203.0.113.7')).toBe('203.0.113.7');
    const a = clientIdentity('2001:db8:85a3:0:1111:2222:3333:4444');
    expect(a).toBe('2001:db8:85a3:0::/64');
    expect(clientIdentity('2001:0db8:85a3:0000:ffff::1')).toBe(a);
    expect(clientIdentity('2001:db8:85a3::9%eth0')).toBe(a);
    expect(clientIdentity('2001:db8:85a3:1::1')).not.toBe(a);
    expect(clientIdentity('::1')).toBe('0:0:0:0::/64');
    expect(clientIdentity('64:ff9b::192.0.2.33')).toBe('64:ff9b:0:0::/64');
    expect(clientIdentity('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64');
    // unparsable or missing: one shared bucket
    for (const bad of [undefined, '', 'localhost', '1.2.3', '2001:db8::g', '::ffff:999.1.1.1']) expect(clientIdentity(bad)).toBe('unknown');
  });

  it('stores a keyed hash: 32 bytes, the same for one client, different per client and per secret', () => {
    const s1 = Buffer.alloc(32, 1);
    const s2 = Buffer.alloc(32, 2);
    const k = clientKey('198.51.100.1', s1);
    expect(k).toHaveLength(32);
    expect(k.toString('hex')).not.toContain(Buffer.from('198.51.100.1').toString('hex'));
    expect(clientKey('::ffff:198.51.100.1', s1)).toEqual(k);
    expect(clientKey('198.51.100.2', s1)).not.toEqual(k);
    expect(clientKey('198.51.100.1', s2)).not.toEqual(k);
    expect(clientKey('2001:db8::1', s1)).toEqual(clientKey('2001:db8::ffff:1', s1));
  });

  it('ignores X-Forwarded-For unless proxies are trusted, and then takes the first address the trusted ones did not write', () => {
    const spoofed = request('203.0.113.9', '10.0.0.1, 192.0.2.44');
    // default: the TCP peer, whatever the header says
    expect(addressOf(spoofed, trustFunction(false))).toBe('203.0.113.9');
    // one trusted hop (a reverse proxy): the address it appended, not what the client put before it
    expect(addressOf(spoofed, trustFunction(1))).toBe('192.0.2.44');
    expect(addressOf(spoofed, trustFunction(2))).toBe('10.0.0.1');
    // trusted by address: only when the peer is that proxy
    expect(addressOf(request('127.0.0.1', '10.0.0.1, 192.0.2.44'), trustFunction(['loopback']))).toBe('192.0.2.44');
    expect(addressOf(spoofed, trustFunction(['loopback']))).toBe('203.0.113.9');
    expect(addressOf(request('10.1.2.3', '192.0.2.44'), trustFunction(['10.0.0.0/8']))).toBe('192.0.2.44');
  });
});
