import { describe, expect, it } from 'vitest';
import { BODY_PARTS, PHI_SCREEN_MAX_LENGTH, phiKind, phiPattern } from './phi.js';
import { US_STATES } from './codes.js';

describe('the PHI screen', () => {
  it('recognises names, record numbers, dates of birth and free text', () => {
    expect(phiKind('Jane Doe')).toBe('NAME');
    expect(phiKind('Doe, Jane')).toBe('NAME');
    expect(phiKind('MRN 00123456')).toBe('RECORD_NUMBER');
    expect(phiKind('ACC20240917')).toBe('RECORD_NUMBER');
    expect(phiKind('8841203')).toBe('RECORD_NUMBER');
    expect(phiKind('1961-04-12')).toBe('DATE');
    expect(phiKind('04/12/1961')).toBe('DATE');
    expect(phiKind('April 12, 1961')).toBe('DATE');
    expect(phiKind('123-45-6789')).toBe('SSN');
    expect(phiKind('(555) 123-4567')).toBe('PHONE');
    expect(phiKind('jane@example.org')).toBe('EMAIL');
    expect(phiKind('history of fall, rule out fracture')).toBe('FREE_TEXT');
  });

  it('lets every controlled value through', () => {
    for (const v of [...BODY_PARTS, ...US_STATES, 'ca', 'chest']) expect(phiKind(v)).toBeNull();
  });

  it('catches PHI inside a token and after other text as before the linear patterns', () => {
    expect(phiKind('x jane.doe@example.org')).toBe('EMAIL');
    expect(phiKind('a@b.co')).toBe('EMAIL');
    expect(phiKind('A12-345-67')).toBe('RECORD_NUMBER');
    expect(phiKind('x-ACC1234567')).toBe('RECORD_NUMBER');
    expect(phiKind('a@b.c')).toBeNull();
  });

  /** Milliseconds of the best of seven runs (the least disturbed by other work on the machine). */
  const timeOf = (f: () => unknown) => {
    let best = Infinity;
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      f();
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  };

  // shapes that made the old patterns rescan from every position: no '@' after a long local part, long tokens
  // broken by '-' (a word boundary at every character), and the like
  const SHAPES: Record<string, (n: number) => string> = {
    letters: (n) => 'a'.repeat(n),
    digits: (n) => '1'.repeat(n),
    'digit-dash': (n) => '1-'.repeat(n / 2),
    'letter-dash': (n) => 'a-'.repeat(n / 2),
    'at then no dot': (n) => 'a@' + 'b'.repeat(n - 2),
    'many ats': (n) => 'a@'.repeat(n / 2),
    'capital words': (n) => 'Aa '.repeat(n / 3),
    'mixed token': (n) => 'a1-'.repeat(n / 3),
    dots: (n) => 'a.'.repeat(n / 2),
    hashes: (n) => '#'.repeat(n),
    months: (n) => 'jan '.repeat(n / 4),
    spaces: (n) => ' '.repeat(n),
  };

  it('runs every pattern in time linear in the input: 8× the input costs far less than 64× the time', () => {
    for (const [shape, make] of Object.entries(SHAPES)) {
      const small = make(10_000);
      const large = make(80_000);
      // a linear pattern takes ~8× as long on 8× the input, a quadratic one ~64×; the floor keeps timer noise out
      const ratio =
        timeOf(() => phiPattern(large)) /
        Math.max(
          timeOf(() => phiPattern(small)),
          0.05,
        );
      expect(ratio, shape).toBeLessThan(24);
    }
  });

  it('refuses an 80,000-character value as free text without running a pattern, and screens a field-sized value in well under a ms', () => {
    for (const make of Object.values(SHAPES)) {
      const attack = make(80_000);
      expect(phiKind(attack)).toBe('FREE_TEXT');
      expect(timeOf(() => phiKind(attack))).toBeLessThan(5);
      const fieldSized = make(PHI_SCREEN_MAX_LENGTH);
      expect(timeOf(() => phiKind(fieldSized))).toBeLessThan(5);
    }
  });
});
