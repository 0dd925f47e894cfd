import { describe, expect, it } from 'vitest';
import { stateIndex, toMask, modalityIndex } from './codes.js';
import { addMonths, attestationFor, isValidNpi, parseCalendarDate, withNpiCheckDigit } from './credentials.js';
import { seededRandom } from './random.js';

const day = (s: string) => parseCalendarDate(s)!;

describe('NPI check digit', () => {
  it('accepts the CMS example 1234567893 and rejects every other last digit', () => {
    expect(isValidNpi('1234567893')).toBe(true);
    for (let d = 0; d <= 9; d++) if (d !== 3) expect(isValidNpi(`123456789${d}`)).toBe(false);
  });

  it('uses the 80840 prefix: plain Luhn over the ten digits gives a different answer', () => {
    // the prefix adds a constant 24 to the Luhn sum, so plain Luhn over the NPI alone disagrees
    const plainLuhn = (s: string) =>
      [...s].reverse().reduce((sum, c, i) => {
        let d = Number(c) * (i % 2 ? 2 : 1);
        if (d > 9) d -= 9;
        return sum + d;
      }, 0) %
        10 ===
      0;
    expect(plainLuhn('1234567893')).toBe(false);
    expect(isValidNpi('1234567893')).toBe(true);
  });

  it('rejects wrong lengths, non-digits and a first digit other than 1 or 2', () => {
    for (const bad of ['123456789', '12345678930', '123456789a', '3234567893', '', ' 1234567893']) expect(isValidNpi(bad)).toBe(false);
  });

  it('catches every single-digit typo and every adjacent transposition of random valid NPIs', () => {
    const rnd = seededRandom(6);
    for (let n = 0; n < 200; n++) {
      const npi = withNpiCheckDigit(`${rnd.int(1, 2)}${String(rnd.int(0, 99_999_999)).padStart(8, '0')}`);
      expect(isValidNpi(npi)).toBe(true);
      for (let i = 1; i < 10; i++) {
        for (let d = 0; d <= 9; d++) {
          if (String(d) === npi[i]) continue;
          expect(isValidNpi(npi.slice(0, i) + d + npi.slice(i + 1))).toBe(false);
        }
        if (i < 9 && npi[i] !== npi[i + 1] && !(/[09]/.test(npi[i]) && /[09]/.test(npi[i + 1]))) {
          expect(isValidNpi(npi.slice(0, i) + npi[i + 1] + npi[i] + npi.slice(i + 2))).toBe(false);
        }
      }
    }
  });
});

describe('calendar dates', () => {
  it('parses real dates to UTC midnight and refuses impossible or malformed ones', () => {
    expect(parseCalendarDate('2028-02-29')).toBe(Date.UTC(2028, 1, 29) / 1000);
    for (const bad of ['2027-02-29', '2027-13-01', '2027-04-31', '27-01-01', '2027-1-1', '2027-01-01T00:00:00Z', 'tomorrow'])
      expect(parseCalendarDate(bad)).toBeNull();
  });

  it('adds calendar months, clamping to the last day of a shorter month', () => {
    expect(addMonths(day('2025-01-31'), 1)).toBe(day('2025-02-28'));
    expect(addMonths(day('2025-06-15'), 36)).toBe(day('2028-06-15'));
    expect(addMonths(day('2024-02-29'), 36)).toBe(day('2027-02-28'));
  });
});

describe('the attestation of an approved application', () => {
  const now = day('2026-01-10');

  it('expires with the earliest licence when that comes before recredentialing', () => {
    const a = attestationFor(
      [
        { state: 'CA', expiresAt: day('2027-05-31') },
        { state: 'NY', expiresAt: day('2026-09-30') },
      ],
      ['CT', 'MR'],
      now,
    );
    expect(a.expiresAt).toBe(day('2026-09-30'));
    expect(a.expiryReason).toEqual({ kind: 'LICENCE', state: 'NY' });
    expect(a.statesMask).toBe(toMask([stateIndex('CA'), stateIndex('NY')]));
    expect(a.modalitiesMask).toBe(toMask([modalityIndex('CT'), modalityIndex('MR')]));
  });

  it('is capped at 36 months after approval', () => {
    const a = attestationFor([{ state: 'TX', expiresAt: day('2035-01-01') }], ['XR'], now);
    expect(a.expiresAt).toBe(day('2029-01-10'));
    expect(a.expiryReason).toEqual({ kind: 'RECREDENTIAL' });
  });

  it('refuses to attest a licence that has already lapsed', () => {
    expect(() => attestationFor([{ state: 'CA', expiresAt: now }], ['CT'], now)).toThrow(/lapsed: CA/);
  });
});
