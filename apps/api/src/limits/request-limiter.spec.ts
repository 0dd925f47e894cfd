import { describe, expect, it } from 'vitest';
import { RequestLimiter } from './request-limiter.js';

const settings = (maxLanes = 100) => ({
  address: { inFlight: 2, burst: 3, perSecond: 1 },
  token: { inFlight: 5, burst: 10, perSecond: 10 },
  maxLanes,
});

describe('the in-memory request limiter', () => {
  it('puts a well-formed bearer token in its own lane (hashed), anything else in its address lane', () => {
    const token = 'A'.repeat(43);
    const lane = RequestLimiter.laneOf(`Bearer ${token}`, '127.0.0.2');
    expect(lane.token).toBe(true);
    expect(lane.key).not.toContain(token);
    expect(RequestLimiter.laneOf(`Bearer ${token}`, '127.0.0.9')).toEqual(lane);
    expect(RequestLimiter.laneOf('Bearer short', '::ffff:127.0.0.2')).toEqual({ key: 'a:127.0.0.2', token: false });
    expect(RequestLimiter.laneOf(undefined, '2001:db8::1')).toEqual(RequestLimiter.laneOf(undefined, '2001:db8::2'));
  });

  it('refuses past the burst until tokens refill, and past the in-flight cap until a request leaves', () => {
    let now = 0;
    const limiter = new RequestLimiter(settings(), () => now);
    expect(limiter.enter('a:x', false)).toBeNull();
    expect(limiter.enter('a:x', false)).toBeNull();
    expect(limiter.enter('a:x', false)).toEqual({ reason: 'TOO_MANY_IN_FLIGHT', retryAfterSeconds: 1 });
    limiter.leave('a:x');
    expect(limiter.enter('a:x', false)).toBeNull();
    limiter.leave('a:x');
    limiter.leave('a:x');
    expect(limiter.enter('a:x', false)).toEqual({ reason: 'TOO_MANY_REQUESTS', retryAfterSeconds: 1 });
    now += 1000;
    expect(limiter.enter('a:x', false)).toBeNull();
    // a token lane has its own, larger spec
    for (let i = 0; i < 5; i++) expect(limiter.enter('t:y', true)).toBeNull();
    expect(limiter.enter('t:y', true)?.reason).toBe('TOO_MANY_IN_FLIGHT');
  });

  it('keeps at most maxLanes, forgetting the least recently seen idle ones, never one with requests in flight', () => {
    const limiter = new RequestLimiter(settings(100));
    expect(limiter.enter('a:busy', false)).toBeNull();
    for (let i = 0; i < 1000; i++) {
      limiter.enter(`a:${i}`, false);
      limiter.leave(`a:${i}`);
    }
    expect(limiter.size).toBe(100);
    // still tracked: its second request is admitted, its third is over the in-flight cap
    expect(limiter.enter('a:busy', false)).toBeNull();
    expect(limiter.enter('a:busy', false)?.reason).toBe('TOO_MANY_IN_FLIGHT');
  });
});
