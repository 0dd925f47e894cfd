/**
 * On-chain enumerations. The indices are part of the contract ABI (uint8 / bit masks):
 * never reorder, only append.
 */
export const MODALITIES = ['XR', 'CT', 'MR', 'US', 'MG', 'NM', 'PET'] as const;
export type Modality = (typeof MODALITIES)[number];

export const URGENCIES = ['ROUTINE', 'URGENT', 'STAT'] as const;
export type Urgency = (typeof URGENCIES)[number];

/** USPS codes of the 50 states and DC, alphabetical; index = on-chain patientState, bit = licence mask. */
export const US_STATES = [
  'AK',
  'AL',
  'AR',
  'AZ',
  'CA',
  'CO',
  'CT',
  'DC',
  'DE',
  'FL',
  'GA',
  'HI',
  'IA',
  'ID',
  'IL',
  'IN',
  'KS',
  'KY',
  'LA',
  'MA',
  'MD',
  'ME',
  'MI',
  'MN',
  'MO',
  'MS',
  'MT',
  'NC',
  'ND',
  'NE',
  'NH',
  'NJ',
  'NM',
  'NV',
  'NY',
  'OH',
  'OK',
  'OR',
  'PA',
  'RI',
  'SC',
  'SD',
  'TN',
  'TX',
  'UT',
  'VA',
  'VT',
  'WA',
  'WI',
  'WV',
  'WY',
] as const;
export type UsState = (typeof US_STATES)[number];

/** Study lifecycle, same order as StudyMarket.Status. */
export const STUDY_STATUSES = ['NONE', 'OPEN', 'CLAIMED', 'REPORTED', 'DISPUTED', 'SETTLED', 'CANCELLED'] as const;
export type StudyStatus = (typeof STUDY_STATUSES)[number];

function indexOf<T extends string>(list: readonly T[], value: string, what: string): number {
  const i = list.indexOf(value as T);
  if (i < 0) throw new RangeError(`unknown ${what}: ${value}`);
  return i;
}
export const modalityIndex = (m: string) => indexOf(MODALITIES, m, 'modality');
export const urgencyIndex = (u: string) => indexOf(URGENCIES, u, 'urgency');
export const stateIndex = (s: string) => indexOf(US_STATES, s, 'state');

export function toMask(indices: number[]): bigint {
  return indices.reduce((mask, i) => mask | (1n << BigInt(i)), 0n);
}
export function fromMask<T>(list: readonly T[], mask: bigint): T[] {
  return list.filter((_, i) => ((mask >> BigInt(i)) & 1n) === 1n);
}

/** A closed list as an enum-like object ({ A: 'A', … }): what GraphQL's registerEnumType takes, from the domain's list. */
export function enumObject<const T extends string>(values: readonly T[]): { readonly [K in T]: K } {
  return Object.freeze(Object.fromEntries(values.map((v) => [v, v]))) as { readonly [K in T]: K };
}
