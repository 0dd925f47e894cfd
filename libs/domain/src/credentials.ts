import { MODALITIES, US_STATES, modalityIndex, stateIndex, toMask } from './codes.js';

/**
 * Credentialing rules shared by the API (approval) and the settler (expiry warnings). Only the masks and
 * the expiry derived here go on chain; NPI, licence numbers and board certificates stay in Postgres.
 */

/** Recredentialing is due this many months after approval, whatever the licences say. */
export const RECREDENTIAL_MONTHS = 36;

/**
 * NPI check digit (CMS, "Requirements for NPI check digit"): the Luhn formula over the 9-digit identifier
 * prefixed with 80840 (the ISO card-issuer prefix of US health). Equivalent to Luhn over "80840" + npi.
 */
export function isValidNpi(npi: string): boolean {
  if (!/^[12]\d{9}$/.test(npi)) return false;
  const digits = `80840${npi}`;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Appends the check digit to a 9-digit NPI base (for tests and fixtures). */
export function withNpiCheckDigit(base9: string): string {
  if (!/^[12]\d{8}$/.test(base9)) throw new RangeError('an NPI base is 9 digits starting with 1 or 2');
  for (let d = 0; d <= 9; d++) if (isValidNpi(`${base9}${d}`)) return `${base9}${d}`;
  throw new Error('unreachable: every base has exactly one check digit');
}

/** A calendar date YYYY-MM-DD that exists (2025-02-30 does not). Returns its UTC midnight, unix seconds. */
export function parseCalendarDate(s: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return t / 1000;
}

/** `months` calendar months after unix time `t` (clamped to the month's last day: 31 Jan + 1 month = 28/29 Feb). */
export function addMonths(t: number, months: number): number {
  const d = new Date(t * 1000);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  target.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds());
  return Math.floor(target.getTime() / 1000);
}

export interface LicenceTerm {
  state: string;
  /** unix seconds of UTC midnight of the expiry date: the licence is treated as lapsed from that moment */
  expiresAt: number;
}

export interface Attestation {
  statesMask: bigint;
  modalitiesMask: bigint;
  expiresAt: number;
  /** what the expiry is: the earliest licence (by state) or the recredentialing deadline */
  expiryReason: { kind: 'LICENCE'; state: string } | { kind: 'RECREDENTIAL' };
}

/**
 * What the verifier attests on approval at time `now`: every licensed state, every modality, and the expiry =
 * earliest licence expiry, capped at RECREDENTIAL_MONTHS after `now`. Throws if a licence has already lapsed
 * (the applicant must renew or drop it and re-apply: a verifier never attests a lapsed licence).
 */
export function attestationFor(licences: LicenceTerm[], modalities: string[], now: number): Attestation {
  if (!licences.length || !modalities.length) throw new RangeError('at least one licence and one modality');
  const lapsed = licences.filter((l) => l.expiresAt <= now);
  if (lapsed.length) throw new RangeError(`licence(s) lapsed: ${lapsed.map((l) => l.state).join(', ')}`);
  const earliest = licences.reduce((a, b) => (b.expiresAt < a.expiresAt ? b : a));
  const cap = addMonths(now, RECREDENTIAL_MONTHS);
  return {
    statesMask: toMask(licences.map((l) => stateIndex(l.state))),
    modalitiesMask: toMask(modalities.map(modalityIndex)),
    expiresAt: Math.min(earliest.expiresAt, cap),
    expiryReason: earliest.expiresAt < cap ? { kind: 'LICENCE', state: earliest.state } : { kind: 'RECREDENTIAL' },
  };
}

export const isUsState = (s: string) => (US_STATES as readonly string[]).includes(s);
export const isModality = (m: string) => (MODALITIES as readonly string[]).includes(m);
