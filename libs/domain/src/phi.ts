import { US_STATES } from './codes.js';

/** Body regions a study may be posted with: a closed vocabulary, so nothing identifying fits. */
export const BODY_PARTS = [
  'HEAD',
  'NECK',
  'CHEST',
  'ABDOMEN',
  'PELVIS',
  'SPINE',
  'UPPER_EXTREMITY',
  'LOWER_EXTREMITY',
  'BREAST',
  'CARDIAC',
  'WHOLE_BODY',
] as const;
export type BodyPart = (typeof BODY_PARTS)[number];

/**
 * A screen for protected health information in fields that must hold de-identified, controlled values
 * (posting metadata). It only has to recognise what does not belong; the fields are then checked against
 * their vocabularies. Deliberately broad: a false positive costs the RO a retry, a false negative leaks PHI.
 * Never echo the screened value in an error or a log line.
 */
export type PhiKind = 'DATE' | 'RECORD_NUMBER' | 'SSN' | 'PHONE' | 'EMAIL' | 'NAME' | 'FREE_TEXT';

export const PHI_DESCRIPTIONS: Record<PhiKind, string> = {
  DATE: 'a date (e.g. a date of birth)',
  RECORD_NUMBER: 'a record number (MRN / accession pattern)',
  SSN: 'a social security number',
  PHONE: 'a phone number',
  EMAIL: 'an e-mail address',
  NAME: "a person's name",
  FREE_TEXT: 'free text',
};

const MONTHS = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*';
const RULES: [PhiKind, RegExp][] = [
  ['SSN', /\b\d{3}-\d{2}-\d{4}\b/],
  // one character before the @ is enough to call it an address; `[^\s@]+@` would rescan the rest of the value
  // from every start position (quadratic: 80,000 characters took seconds)
  ['EMAIL', /[^\s@]@[^\s@]+\.[a-z]{2,}/i],
  ['DATE', /\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b/],
  ['DATE', new RegExp(`\\b${MONTHS}\\.?\\s+\\d{1,2}(st|nd|rd|th)?,?\\s+\\d{2,4}\\b|\\b\\d{1,2}\\s+${MONTHS}\\.?\\s+\\d{2,4}\\b`, 'i')],
  ['DATE', /\b(dob|d\.o\.b\.|born)\b/i],
  ['PHONE', /(\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b/],
  ['RECORD_NUMBER', /\b(mrn|acc(ession)?|med(ical)?\s*rec(ord)?)\b|#\s*\d/i],
  // five or more digits in a row, or a mixed token with five or more digits (ACC1234567, A12-345-67)
  // (a token is tried from its first character only: from every word boundary inside "1-1-1-…" the lookaheads
  // would rescan the rest of the token, quadratic in its length)
  ['RECORD_NUMBER', /\d{5,}|(?<![A-Z0-9-])(?=[A-Z0-9-]*[A-Z])(?=(?:[A-Z-]*\d){5})[A-Z0-9-]{6,}\b/i],
  // "Last, First", or two or more capitalised words ("Jane Doe", "Jane Q. Doe")
  ['NAME', /\b[A-Z][a-z'’-]+,\s*[A-Z][a-z'’-]+\b|\b[A-Z][a-z'’-]+\s+([A-Z]\.?\s+)?[A-Z][a-z'’-]+\b/],
];

/**
 * The longest value the patterns are run on. Every screened field holds a short controlled value (a body part, a
 * state code, an amount); anything longer is free text whatever it contains, and is refused without being searched,
 * so the screen's time is bounded whatever a client sends.
 */
export const PHI_SCREEN_MAX_LENGTH = 64;

/** The closed vocabularies of the screened fields: a member is a controlled value, not PHI, without any pattern. */
const CONTROLLED = new Set<string>([...BODY_PARTS, ...US_STATES]);

/** The first pattern `value` matches (every pattern runs in time linear in the value's length), or null. */
export function phiPattern(value: string): PhiKind | null {
  for (const [kind, re] of RULES) if (re.test(value)) return kind;
  return null;
}

/** What kind of PHI a value looks like, or null. Vocabulary and length are checked before any pattern runs. */
export function phiKind(value: string): PhiKind | null {
  if (value.length > PHI_SCREEN_MAX_LENGTH) return 'FREE_TEXT';
  if (CONTROLLED.has(value.toUpperCase())) return null;
  const kind = phiPattern(value);
  if (kind) return kind;
  // anything sentence-like: several words or long text is not a controlled value
  if (value.length > 40 || value.trim().split(/\s+/).length >= 3) return 'FREE_TEXT';
  return null;
}

/** The fields (by name) whose values look like PHI, with what they look like. */
export function screenForPhi(fields: Record<string, string | null | undefined>): { field: string; kind: PhiKind }[] {
  const hits: { field: string; kind: PhiKind }[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (value == null) continue;
    const kind = phiKind(value);
    if (kind) hits.push({ field, kind });
  }
  return hits;
}
