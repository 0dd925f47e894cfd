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
  ['EMAIL', /[^\s@]+@[^\s@]+\.[a-z]{2,}/i],
  ['DATE', /\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b/],
  ['DATE', new RegExp(`\\b${MONTHS}\\.?\\s+\\d{1,2}(st|nd|rd|th)?,?\\s+\\d{2,4}\\b|\\b\\d{1,2}\\s+${MONTHS}\\.?\\s+\\d{2,4}\\b`, 'i')],
  ['DATE', /\b(dob|d\.o\.b\.|born)\b/i],
  ['PHONE', /(\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b/],
  ['RECORD_NUMBER', /\b(mrn|acc(ession)?|med(ical)?\s*rec(ord)?)\b|#\s*\d/i],
  // five or more digits in a row, or a mixed token with five or more digits (ACC1234567, A12-345-67)
  ['RECORD_NUMBER', /\d{5,}|\b(?=[A-Z0-9-]*[A-Z])(?=(?:[A-Z-]*\d){5})[A-Z0-9-]{6,}\b/i],
  // "Last, First", or two or more capitalised words ("Jane Doe", "Jane Q. Doe")
  ['NAME', /\b[A-Z][a-z'’-]+,\s*[A-Z][a-z'’-]+\b|\b[A-Z][a-z'’-]+\s+([A-Z]\.?\s+)?[A-Z][a-z'’-]+\b/],
];

/** What kind of PHI a value looks like, or null. */
export function phiKind(value: string): PhiKind | null {
  for (const [kind, re] of RULES) if (re.test(value)) return kind;
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
