// The PHI byte scan: every way a value of the input could survive into an output file, as bytes to look for.
import type { StudyPhi } from './studies.js';

export interface Needle {
  /** which input value and which form of it, e.g. "patientName: family name, upper case, utf16le" (names the field, not the value) */
  label: string;
  bytes: Buffer;
  /** searched in the ASCII-lower-cased bytes (case-insensitive for ASCII letters) */
  folded: boolean;
}

const ENCODINGS: BufferEncoding[] = ['utf8', 'latin1', 'utf16le'];
/** words too common to mean anything on their own (an institution's "Regional Hospital") */
const COMMON_WORDS = new Set(['hospital', 'regional', 'medical', 'center', 'centre', 'clinic', 'university', 'radiology']);

/** German/Nordic spellings without diacritics: Müller → Muller and Mueller. */
function asciiForms(s: string): string[] {
  const stripped = s.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
  const expanded = s
    .replace(/ä/g, 'ae')
    .replace(/ö/g, 'oe')
    .replace(/ü/g, 'ue')
    .replace(/Ä/g, 'Ae')
    .replace(/Ö/g, 'Oe')
    .replace(/Ü/g, 'Ue')
    .replace(/ß/g, 'ss');
  return [...new Set([s, stripped, expanded])];
}

function nameForms(pn: string): string[] {
  const [family = '', given = '', middle = ''] = pn.split('^');
  const parts = [family, given, middle, ...family.split(/[-\s]/)].filter((p) => p.length >= 3);
  const whole = [
    pn,
    `${given} ${family}`,
    `${family}, ${given}`,
    `${family} ${given}`,
    `${given} ${middle} ${family}`,
    `${family}^${given}`,
  ];
  return [...whole, ...parts];
}

function dateForms(da: string): string[] {
  const [y, m, d] = [da.slice(0, 4), da.slice(4, 6), da.slice(6, 8)];
  return [da, `${y}-${m}-${d}`, `${y}.${m}.${d}`, `${y}/${m}/${d}`, `${m}/${d}/${y}`, `${d}.${m}.${y}`, `${d}/${m}/${y}`];
}

/** An identifier, and its run of digits when that alone identifies (≥ 6 digits: MRN-48213977 → 48213977). */
function idForms(id: string): string[] {
  const digits = id.replace(/\D/g, '');
  return [id, id.replace(/[-\s]/g, ''), ...(digits.length >= 6 ? [digits] : [])];
}

function phraseForms(text: string): string[] {
  const words = text.split(/[\s,.]+/).filter((w) => w.length >= 5 && !COMMON_WORDS.has(w.toLowerCase()) && !/^\d+$/.test(w));
  return [text, ...words];
}

const FORMS: Record<keyof StudyPhi, (v: string) => string[]> = {
  patientName: nameForms,
  patientId: idForms,
  otherPatientId: idForms,
  patientBirthDate: dateForms,
  patientAddress: phraseForms,
  patientTelephone: (t) => [t, t.replace(/\D/g, '')],
  accessionNumber: idForms,
  institutionName: phraseForms,
  institutionAddress: phraseForms,
  referringPhysicianName: nameForms,
  performingPhysicianName: nameForms,
  operatorsName: nameForms,
  requestingPhysician: nameForms,
  stationName: (s) => [s],
  deviceSerialNumber: idForms,
  studyId: (s) => [s],
  studyDate: dateForms,
  // a time of day alone is not identifying once the date has moved (the Modified Dates option keeps times)
  studyTime: () => [],
  requestedProcedureId: idForms,
};

/** Every form of every PHI value, in every case and text encoding a DICOM writer could use. */
export function phiNeedles(phi: StudyPhi): Needle[] {
  const needles = new Map<string, Needle>();
  for (const key of Object.keys(FORMS) as (keyof StudyPhi)[]) {
    for (const form of FORMS[key](phi[key]).flatMap(asciiForms)) {
      const cases = new Set([form, form.toUpperCase(), form.toLowerCase()]);
      for (const text of cases) {
        for (const enc of ENCODINGS) {
          const bytes = Buffer.from(text, enc);
          const id = `${enc}:${bytes.toString('hex')}`;
          if (!needles.has(id)) needles.set(id, { label: `${key} (${enc})`, bytes, folded: false });
        }
      }
      for (const enc of ENCODINGS) {
        const bytes = Buffer.from(form.toLowerCase(), enc);
        const id = `folded:${enc}:${bytes.toString('hex')}`;
        if (!needles.has(id)) needles.set(id, { label: `${key} (${enc}, any case)`, bytes, folded: true });
      }
    }
  }
  return [...needles.values()];
}

/** A copy with ASCII A-Z lower-cased (UTF-8, Latin-1 and UTF-16LE all keep ASCII letters as these bytes). */
function asciiLower(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) if (out[i] >= 0x41 && out[i] <= 0x5a) out[i] += 0x20;
  return out;
}

/** Needles indexed by their first three bytes: one pass over the bytes finds them all (hundreds of needles, MBs of pixels). */
class NeedleIndex {
  private readonly bitmap = new Uint8Array(1 << 21);
  private readonly byPrefix = new Map<number, Needle[]>();
  constructor(needles: readonly Needle[]) {
    for (const n of needles) {
      if (n.bytes.length < 3) throw new Error(`a needle of ${n.bytes.length} bytes would match noise (${n.label})`);
      const key = (n.bytes[0] << 16) | (n.bytes[1] << 8) | n.bytes[2];
      this.bitmap[key >> 3] |= 1 << (key & 7);
      this.byPrefix.set(key, [...(this.byPrefix.get(key) ?? []), n]);
    }
  }
  find(hay: Buffer, found: Set<string>): void {
    for (let i = 0; i + 2 < hay.length; i++) {
      const key = (hay[i] << 16) | (hay[i + 1] << 8) | hay[i + 2];
      if (!(this.bitmap[key >> 3] & (1 << (key & 7)))) continue;
      for (const n of this.byPrefix.get(key)!) {
        if (i + n.bytes.length <= hay.length && hay.compare(n.bytes, 0, n.bytes.length, i, i + n.bytes.length) === 0) found.add(n.label);
      }
    }
  }
}

const indexes = new WeakMap<readonly Needle[], [NeedleIndex, NeedleIndex]>();

/** The labels of the needles found anywhere in these bytes (empty: none); every byte is looked at. */
export function findPhi(bytes: Uint8Array, needles: readonly Needle[]): string[] {
  let index = indexes.get(needles);
  if (!index) {
    index = [new NeedleIndex(needles.filter((n) => !n.folded)), new NeedleIndex(needles.filter((n) => n.folded))];
    indexes.set(needles, index);
  }
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = new Set<string>();
  index[0].find(raw, found);
  index[1].find(asciiLower(raw), found);
  return [...found].sort();
}
