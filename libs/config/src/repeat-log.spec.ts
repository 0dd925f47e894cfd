import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RepeatLog } from './repeat-log.js';
import { DeadlineError, withDeadline } from './deadline.js';

describe('RepeatLog', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes a failure once, then a count per interval, then the recovery; a 60 s outage of 4 polls/s is a handful of lines', () => {
    const lines: string[] = [];
    const log = new RepeatLog({ error: (m) => lines.push(`E ${m}`), log: (m) => lines.push(`L ${m}`) }, 10_000);
    for (let t = 0; t < 240; t++) {
      log.error(`pass failed (attempt ${t + 1}): connect ECONNREFUSED 127.0.0.1:5432`);
      vi.advanceTimersByTime(250);
    }
    log.ok('passes recovered');
    expect(lines[0]).toBe('E pass failed (attempt 1): connect ECONNREFUSED 127.0.0.1:5432');
    expect(lines.filter((l) => l.includes('repeated 40× in the last 10 s'))).toHaveLength(5);
    expect(lines.at(-1)).toBe('L passes recovered after 60 s of failures');
    expect(lines.length).toBeLessThanOrEqual(8);
  });

  it('keeps different failures apart, forgets one that stopped recurring, and says nothing after a success without failures', () => {
    const lines: string[] = [];
    const log = new RepeatLog({ error: (m) => lines.push(m), log: (m) => lines.push(m) }, 1000);
    log.ok();
    log.error('query read timeout');
    log.error('chain node TIMEOUT');
    log.error('query read timeout');
    expect(lines).toEqual(['query read timeout', 'chain node TIMEOUT']);
    vi.advanceTimersByTime(1000); // the first repeated, the second did not
    expect(lines.at(-1)).toBe('query read timeout (repeated 1× in the last 1 s)');
    vi.advanceTimersByTime(1000); // neither recurred: both forgotten, so the next one is new
    log.error('chain node TIMEOUT');
    expect(lines.at(-1)).toBe('chain node TIMEOUT');
    expect(lines).toHaveLength(4);
  });
});

describe('withDeadline', () => {
  it('settles with the work in time, or rejects with a DeadlineError naming what did not answer', async () => {
    await expect(withDeadline(Promise.resolve(7), 1000, 'postgres')).resolves.toBe(7);
    const hung = new Promise<never>(() => undefined);
    const err = await withDeadline(hung, 20, 'postgres').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as Error).message).toBe('postgres did not answer within 20 ms');
  });
});
