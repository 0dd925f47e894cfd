import { OpenReadError } from './errors.js';

export function parseStudyId(id: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(id)) throw new OpenReadError('BAD_INPUT', 'studyId must be a 0x-prefixed 32-byte hex string');
  return id.toLowerCase();
}

export function parseAddress(a: string, field = 'address'): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) throw new OpenReadError('BAD_INPUT', `${field} must be a 0x-prefixed 20-byte address`);
  return a.toLowerCase();
}

export function parseBytes32(v: string, field: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(v) || /^0x0{64}$/.test(v))
    throw new OpenReadError('BAD_INPUT', `${field} must be a non-zero 0x-prefixed 32-byte hex string`);
  return v.toLowerCase();
}

/** A 65-byte ECDSA signature (r, s, v), 0x-prefixed hex. */
export function parseSignature(v: string, field = 'signature'): string {
  if (!/^0x[0-9a-fA-F]{130}$/.test(v)) throw new OpenReadError('BAD_INPUT', `${field} must be a 65-byte 0x-prefixed hex signature`);
  return v;
}

export function parseAmount(v: string, field: string): bigint {
  if (!/^\d{1,78}$/.test(v)) throw new OpenReadError('BAD_INPUT', `${field} must be a non-negative integer in token base units`);
  return BigInt(v);
}

export function parseLimit(first: number | undefined, max = 100, dflt = 20): number {
  const n = first ?? dflt;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new OpenReadError('BAD_INPUT', `first must be between 1 and ${max}`);
  return n;
}

export function subsetOf<T extends string>(values: string[] | undefined, allowed: readonly T[], field: string): T[] | undefined {
  if (!values) return undefined;
  const bad = values.filter((v) => !allowed.includes(v as T));
  if (bad.length)
    throw new OpenReadError('BAD_INPUT', `${field}: unknown value(s) ${bad.join(', ')}; expected one of ${allowed.join(', ')}`);
  return values as T[];
}
