import { createHmac } from 'node:crypto';
import { element, readPart10, textOf, writePart10, type DcmDataset, type DcmElement } from './part10.js';
import {
  CLEANABLE_SOP_CLASSES,
  DUMMY_BY_VR,
  EMPTY_UNLISTED_PERSON_NAMES,
  PROFILE_RESOLUTION,
  REFUSAL_SENTENCES,
  REFUSED_SOP_CLASSES,
  REMOVE_PRIVATE_ATTRIBUTES,
  profileEntryOf,
  type RefusalReason,
} from './profile.js';

export interface DeidentifyOptions {
  /**
   * The RO's secret (≥ 16 bytes). UIDs, the date offset and the patient pseudonym of a study are derived from it
   * and the study's original UID: the same study exported again maps to the same values; without the secret the
   * mapping cannot be recomputed or reversed.
   */
  secret: string | Uint8Array;
  /** 'shift' (default): dates move by the study's offset, intervals kept; 'remove': dates follow the profile's action */
  dates?: 'shift' | 'remove';
}

/** Why an instance is not shared, for the person at the RO (no PHI: a closed reason and a sentence). */
export interface DicomRefusal {
  reason: RefusalReason;
  sentence: string;
  sopClassUid?: string;
}

export type DeidentifyResult =
  | { ok: true; bytes: Uint8Array; studyInstanceUid: string; seriesInstanceUid: string; sopInstanceUid: string }
  | { ok: false; refusal: DicomRefusal };

const TAG = {
  sopClass: '00080016',
  studyUid: '0020000D',
  patientId: '00100020',
  burnedIn: '00280301',
  identityRemoved: '00120062',
  method: '00120063',
  methodCodes: '00120064',
  longitudinalModified: '00280303',
  mediaSopClass: '00020002',
  mediaSopInstance: '00020003',
} as const;

/** File meta attributes that may name the sender or carry private data; the rest of group 0002 describes the encoding. */
const META_REMOVED = new Set(['00020016', '00020017', '00020018', '00020100', '00020102']);

/** CID 7050 codes for what was applied (DeidentificationMethodCodeSequence). */
const METHOD_CODES = {
  basic: ['113100', 'Basic Application Confidentiality Profile'],
  modifiedDates: ['113107', 'Retain Longitudinal Temporal Information Modified Dates Option'],
} as const;

const DAY_MS = 86_400_000;

/** The values derived for one study: its key, its date offset, its patient pseudonym. */
class StudyKeys {
  readonly dateOffsetDays: number;
  readonly patientPseudonym: string;
  private readonly uids = new Map<string, string>();

  constructor(private readonly key: Buffer) {
    // between 30 days and ~10 years back, never 0: a shifted date never equals its original
    this.dateOffsetDays = -(30 + (this.mac('dates').readUInt32BE(0) % 3620));
    this.patientPseudonym = `OR-${this.mac('patient').toString('hex').slice(0, 16).toUpperCase()}`;
  }

  private mac(what: string): Buffer {
    return createHmac('sha256', this.key).update(what).digest();
  }

  /** A UID under the 2.25 root (a UUID-sized integer), the same for the same original within the study. */
  uid(original: string): string {
    let mapped = this.uids.get(original);
    if (!mapped) {
      mapped = `2.25.${BigInt(`0x${this.mac(`uid\0${original}`).toString('hex').slice(0, 32)}`).toString()}`;
      this.uids.set(original, mapped);
    }
    return mapped;
  }
}

/**
 * De-identifies DICOM instances one at a time by the PS3.15 Basic Profile table of profile.ts. It keeps only a few
 * derived keys per study in memory (never the instances of a study), so a study of any size streams through.
 */
export class Deidentifier {
  private readonly secret: Buffer;
  private readonly dates: 'shift' | 'remove';
  private readonly studies = new Map<string, StudyKeys>();

  constructor(options: DeidentifyOptions) {
    this.secret = Buffer.from(options.secret);
    if (this.secret.length < 16) throw new Error('the de-identification secret must be at least 16 bytes');
    this.dates = options.dates ?? 'shift';
  }

  /** The mapped StudyInstanceUID of an original one (what the de-identified copy of that study is called). */
  studyUidOf(originalStudyUid: string): string {
    return this.keysOf(originalStudyUid).uid(originalStudyUid);
  }

  /** De-identifies one Part-10 instance; refuses (a value, not an exception) what the profile cannot clean. */
  instance(bytes: Uint8Array): DeidentifyResult {
    let parsed;
    try {
      parsed = readPart10(bytes);
    } catch {
      return refuse('NOT_DICOM');
    }
    const { meta, dataset } = parsed;
    const sopClassUid = textOf(dataset, TAG.sopClass) || textOf(meta, TAG.mediaSopClass);
    const refusal = this.refusalOf(dataset, sopClassUid);
    if (refusal) return { ok: false, refusal };
    const studyUid = textOf(dataset, TAG.studyUid);
    if (!studyUid) return refuse('MISSING_STUDY_UID', sopClassUid);

    const keys = this.keysOf(studyUid);
    const clean = this.cleanDataset(dataset, keys);
    clean[TAG.identityRemoved] = element('CS', ['YES']);
    const codes = this.dates === 'shift' ? [METHOD_CODES.basic, METHOD_CODES.modifiedDates] : [METHOD_CODES.basic];
    clean[TAG.method] = element('LO', [
      codes
        .map(([, meaning]) => meaning)
        .join('; ')
        .slice(0, 64),
    ]);
    clean[TAG.methodCodes] = element(
      'SQ',
      codes.map(([value, meaning]) => ({
        '00080100': element('SH', [value]),
        '00080102': element('SH', ['DCM']),
        '00080104': element('LO', [meaning]),
      })),
    );
    if (this.dates === 'shift') clean[TAG.longitudinalModified] = element('CS', ['MODIFIED']);

    const cleanMeta: DcmDataset = {};
    for (const [tag, el] of Object.entries(meta)) {
      if (META_REMOVED.has(tag)) continue;
      cleanMeta[tag] =
        tag === TAG.mediaSopInstance
          ? element(
              'UI',
              (el.Value ?? []).map((v) => keys.uid(String(v))),
            )
          : el;
    }
    return {
      ok: true,
      bytes: writePart10({ meta: cleanMeta, dataset: clean }),
      studyInstanceUid: textOf(clean, TAG.studyUid),
      seriesInstanceUid: textOf(clean, '0020000E'),
      sopInstanceUid: textOf(clean, '00080018'),
    };
  }

  private refusalOf(dataset: DcmDataset, sopClassUid: string): DicomRefusal | undefined {
    const refused = REFUSED_SOP_CLASSES.find((r) => sopClassUid.startsWith(r.prefix));
    if (refused) return refusal(refused.reason, sopClassUid);
    const cleanable = CLEANABLE_SOP_CLASSES[sopClassUid];
    if (!cleanable) return refusal('UNSUPPORTED_SOP_CLASS', sopClassUid);
    const burnedIn = textOf(dataset, TAG.burnedIn).toUpperCase();
    if (burnedIn === 'YES' || (cleanable.burnedInMustBeNo && burnedIn !== 'NO')) return refusal('BURNED_IN_ANNOTATION', sopClassUid);
    return undefined;
  }

  private keysOf(studyUid: string): StudyKeys {
    let keys = this.studies.get(studyUid);
    if (!keys) {
      keys = new StudyKeys(createHmac('sha256', this.secret).update(`study\0${studyUid}`).digest());
      // bounded: a connector streams study after study; the keys are cheap to derive again
      if (this.studies.size >= 1000) this.studies.clear();
      this.studies.set(studyUid, keys);
    }
    return keys;
  }

  private cleanDataset(dataset: DcmDataset, keys: StudyKeys): DcmDataset {
    const out: DcmDataset = {};
    for (const [tag, el] of Object.entries(dataset)) {
      const cleaned = this.cleanElement(tag, el, keys);
      if (cleaned) out[tag] = cleaned;
    }
    return out;
  }

  /** One attribute by its table entry; undefined removes it. */
  private cleanElement(tag: string, el: DcmElement, keys: StudyKeys): DcmElement | undefined {
    if (REMOVE_PRIVATE_ATTRIBUTES && parseInt(tag.slice(0, 4), 16) % 2 === 1) return undefined;
    const entry = profileEntryOf(tag);
    const action = entry ? PROFILE_RESOLUTION[entry.code] : undefined;
    if (action === 'remove') return undefined;
    const vr = el.vr;
    const values = el.Value ?? [];

    if ((vr === 'DA' || vr === 'DT') && action !== 'keep') {
      if (this.dates === 'shift')
        return element(
          vr,
          values.map((v) => shiftDate(String(v), vr, keys.dateOffsetDays)),
        );
      if (!action) return element(vr, []);
    }
    switch (action) {
      case 'empty':
        return element(vr, []);
      case 'dummy':
        if (vr === 'UI')
          return element(
            vr,
            values.map((v) => keys.uid(String(v))),
          );
        if (tag === TAG.patientId) return element(vr, [keys.patientPseudonym]);
        if (vr === 'PN') return element(vr, [{ Alphabetic: DUMMY_BY_VR.PN }]);
        return element(vr, DUMMY_BY_VR[vr] ? [DUMMY_BY_VR[vr]] : []);
      case 'uid':
        return element(
          vr,
          values.map((v) => keys.uid(String(v))),
        );
      case 'keep':
        return el;
      case 'clean-items':
        return vr === 'SQ'
          ? element(
              vr,
              values.map((item) => this.cleanDataset(item as DcmDataset, keys)),
            )
          : element(vr, []);
      default:
        if (vr === 'SQ')
          return element(
            vr,
            values.map((item) => this.cleanDataset(item as DcmDataset, keys)),
          );
        if (vr === 'PN' && EMPTY_UNLISTED_PERSON_NAMES) return element(vr, []);
        return el;
    }
  }
}

/** Moves a DA (YYYYMMDD) or the date part of a DT by whole days; a value that is not a full date becomes empty. */
function shiftDate(value: string, vr: 'DA' | 'DT', offsetDays: number): string {
  const m = /^(\d{4})(\d{2})(\d{2})(.*)$/.exec(value.trim());
  if (!m || (vr === 'DA' && m[4] !== '')) return '';
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) + offsetDays * DAY_MS;
  if (!Number.isFinite(t)) return '';
  const d = new Date(t);
  const date = `${d.getUTCFullYear().toString().padStart(4, '0')}${(d.getUTCMonth() + 1).toString().padStart(2, '0')}${d.getUTCDate().toString().padStart(2, '0')}`;
  return date + (vr === 'DT' ? m[4] : '');
}

const refusal = (reason: RefusalReason, sopClassUid?: string): DicomRefusal => ({
  reason,
  sentence: REFUSAL_SENTENCES[reason],
  ...(sopClassUid ? { sopClassUid } : {}),
});
const refuse = (reason: RefusalReason, sopClassUid?: string): DeidentifyResult => ({ ok: false, refusal: refusal(reason, sopClassUid) });

/** De-identifies a stream of instances (each a Part-10 buffer), one in memory at a time. */
export async function* deidentifyInstances(
  instances: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  deidentifier: Deidentifier,
): AsyncGenerator<DeidentifyResult> {
  for await (const bytes of instances) yield deidentifier.instance(bytes);
}
