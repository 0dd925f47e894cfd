import { describe, expect, it } from 'vitest';
import { BODY_PARTS, phiKind } from './phi.js';
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
});
