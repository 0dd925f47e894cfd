// Realistic multi-frame studies for tests, generated (never downloaded): Enhanced CT and Enhanced MR instances with
// the identifying headers a hospital PACS really holds (names, IDs, dates, accession number, institution, staff,
// a request sequence, a vendor's private block copying the patient's name and ID), nested functional groups with
// per-frame dates, references between series, and 16-bit phantom pixel data of clinical size.
import { createHash } from 'node:crypto';
import { element, readPart10, writePart10, type DcmDataset } from '../part10.js';

/** The identifying values of a generated study: what a de-identified copy must not contain anywhere. */
export interface StudyPhi {
  patientName: string;
  patientId: string;
  otherPatientId: string;
  patientBirthDate: string;
  patientAddress: string;
  patientTelephone: string;
  accessionNumber: string;
  institutionName: string;
  institutionAddress: string;
  referringPhysicianName: string;
  performingPhysicianName: string;
  operatorsName: string;
  requestingPhysician: string;
  stationName: string;
  deviceSerialNumber: string;
  studyId: string;
  studyDate: string;
  studyTime: string;
  requestedProcedureId: string;
}

export const DEFAULT_PHI: StudyPhi = {
  patientName: 'Müller-Lüdenscheidt^Anneliese^Marie',
  patientId: 'MRN-48213977',
  otherPatientId: 'HSP2-77345120',
  patientBirthDate: '19630412',
  patientAddress: '12 Lindenstrasse, 79098 Freiburg',
  patientTelephone: '+49-761-5550199',
  accessionNumber: 'ACC26111542',
  institutionName: 'St. Hildegard Regional Hospital',
  institutionAddress: '3 Kaiserplatz, Freiburg',
  referringPhysicianName: 'Okonkwo^Chidiebere',
  performingPhysicianName: 'Haraldsdottir^Sigrun',
  operatorsName: 'Tanakawa^Hiroshige',
  requestingPhysician: 'Villanueva^Esperanza',
  stationName: 'HILDCT02',
  deviceSerialNumber: 'SN99812HX',
  studyId: 'CT4471',
  studyDate: '20261115',
  studyTime: '143015',
  requestedProcedureId: 'RP-5530917',
};

export type GeneratedModality = 'CT' | 'MR';

export interface StudySpec {
  modality: GeneratedModality;
  series: number;
  instancesPerSeries: number;
  framesPerInstance: number;
  /** pixels per side (CT 512, MR 256 are clinical sizes) */
  size?: number;
  /** seeds the UIDs and the pixel noise: the same spec gives the same bytes */
  seed?: string;
  phi?: Partial<StudyPhi>;
}

export interface GeneratedStudy {
  studyInstanceUid: string;
  phi: StudyPhi;
  /** series UID → its instance UIDs, in generation order */
  series: Map<string, string[]>;
  /** the instances as Part-10 bytes, made one at a time as they are read (a study is never all in memory) */
  instances(): Generator<Uint8Array>;
}

const SOP_CLASS: Record<GeneratedModality, string> = { CT: '1.2.840.10008.5.1.4.1.1.2.1', MR: '1.2.840.10008.5.1.4.1.1.4.1' };
const BODY_PART: Record<GeneratedModality, string> = { CT: 'CHEST', MR: 'HEAD' };
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** A UID under the 2.25 root derived from the seed (deterministic, like a PACS's own would be stable). */
function uidOf(seed: string, what: string): string {
  return `2.25.${BigInt(`0x${createHash('sha256').update(`${seed}/${what}`).digest('hex').slice(0, 30)}`).toString()}`;
}

const pn = (name: string) => [{ Alphabetic: name }];
const iso = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;

export function generateStudy(spec: StudySpec): GeneratedStudy {
  const seed = spec.seed ?? `${spec.modality}-study`;
  const phi: StudyPhi = { ...DEFAULT_PHI, ...spec.phi };
  const size = spec.size ?? (spec.modality === 'CT' ? 512 : 256);
  const studyInstanceUid = uidOf(seed, 'study');
  const frameOfReferenceUid = uidOf(seed, 'frame-of-reference');
  const series = new Map<string, string[]>();
  for (let s = 0; s < spec.series; s++) {
    series.set(
      uidOf(seed, `series/${s}`),
      Array.from({ length: spec.instancesPerSeries }, (_, i) => uidOf(seed, `series/${s}/instance/${i}`)),
    );
  }
  const seriesUids = [...series.keys()];

  function* instances(): Generator<Uint8Array> {
    for (const [s, seriesUid] of seriesUids.entries()) {
      for (const [i, sopInstanceUid] of series.get(seriesUid)!.entries()) {
        // the later series are reconstructions of the first: they reference its instance of the same number
        const reference = s > 0 ? series.get(seriesUids[0])![i] : undefined;
        yield instance(spec, phi, size, seed, { studyInstanceUid, frameOfReferenceUid, seriesUid, sopInstanceUid, s, i, reference });
      }
    }
  }
  return { studyInstanceUid, phi, series, instances };
}

interface Place {
  studyInstanceUid: string;
  frameOfReferenceUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  s: number;
  i: number;
  reference?: string;
}

function instance(spec: StudySpec, phi: StudyPhi, size: number, seed: string, at: Place): Uint8Array {
  const frames = spec.framesPerInstance;
  const sopClass = SOP_CLASS[spec.modality];
  const acquisitionTime = `14${String(31 + at.s).padStart(2, '0')}${String(10 + at.i).padStart(2, '0')}`;
  const acquisitionDateTime = `${phi.studyDate}${acquisitionTime}.120000`;
  const thickness = spec.modality === 'CT' ? 1.25 : 4;
  const perFrame = Array.from({ length: frames }, (_, f) => ({
    '00209111': element('SQ', [
      {
        '00189074': element('DT', [`${phi.studyDate}${acquisitionTime}.${String(100000 + f * 250).padStart(6, '0')}`]),
        '00209157': element('UL', [1, at.i * frames + f + 1]),
        '00209156': element('US', [f + 1]),
      },
    ]),
    '00209113': element('SQ', [{ '00200032': element('DS', [-180, -200, -(at.i * frames + f) * thickness]) }]),
  }));
  const dataset: DcmDataset = {
    '00080005': element('CS', ['ISO_IR 192']),
    '00080008': element('CS', ['ORIGINAL', 'PRIMARY', 'AXIAL', 'NONE']),
    '00080012': element('DA', [phi.studyDate]),
    '00080013': element('TM', ['150102']),
    '00080016': element('UI', [sopClass]),
    '00080018': element('UI', [at.sopInstanceUid]),
    '00080020': element('DA', [phi.studyDate]),
    '00080021': element('DA', [phi.studyDate]),
    '00080023': element('DA', [phi.studyDate]),
    '0008002A': element('DT', [acquisitionDateTime]),
    '00080030': element('TM', [phi.studyTime]),
    '00080031': element('TM', [acquisitionTime]),
    '00080033': element('TM', [acquisitionTime]),
    '00080050': element('SH', [phi.accessionNumber]),
    '00080060': element('CS', [spec.modality]),
    '00080070': element('LO', [spec.modality === 'CT' ? 'Acme Medical' : 'Acme MR Systems']),
    '00080080': element('LO', [phi.institutionName]),
    '00080081': element('ST', [phi.institutionAddress]),
    '00080090': element('PN', pn(phi.referringPhysicianName)),
    '00081010': element('SH', [phi.stationName]),
    '00081030': element('LO', [`${spec.modality} ${BODY_PART[spec.modality].toLowerCase()} for ${phi.patientName.split('^')[0]}`]),
    '0008103E': element('LO', [at.s === 0 ? 'Primary axial' : `Reconstruction ${at.s}`]),
    '00081040': element('LO', ['Radiology, Hildegard wing']),
    '00081050': element('PN', pn(phi.performingPhysicianName)),
    '00081070': element('PN', pn(phi.operatorsName)),
    '00081090': element('LO', [spec.modality === 'CT' ? 'Acme CT 128' : 'Acme MR 3T']),
    '00081111': element('SQ', [
      { '00081150': element('UI', ['1.2.840.10008.3.1.2.3.3']), '00081155': element('UI', [uidOf(seed, 'mpps')]) },
    ]),
    ...(at.reference
      ? {
          '00081140': element('SQ', [{ '00081150': element('UI', [sopClass]), '00081155': element('UI', [at.reference]) }]),
        }
      : {}),
    '00100010': element('PN', pn(phi.patientName)),
    '00100020': element('LO', [phi.patientId]),
    '00100030': element('DA', [phi.patientBirthDate]),
    '00100040': element('CS', ['F']),
    '00101000': element('LO', [phi.otherPatientId]),
    '00101010': element('AS', ['063Y']),
    '00101040': element('LO', [phi.patientAddress]),
    '00102154': element('SH', [phi.patientTelephone]),
    '00104000': element('LT', [`Patient ${phi.patientName.replaceAll('^', ' ')} born ${iso(phi.patientBirthDate)}, claustrophobic`]),
    '00180015': element('CS', [BODY_PART[spec.modality]]),
    '00181000': element('LO', [phi.deviceSerialNumber]),
    '00181030': element('LO', [`${spec.modality} ${BODY_PART[spec.modality]} routine`]),
    '0020000D': element('UI', [at.studyInstanceUid]),
    '0020000E': element('UI', [at.seriesUid]),
    '00200010': element('SH', [phi.studyId]),
    '00200011': element('IS', [at.s + 1]),
    '00200013': element('IS', [at.i + 1]),
    '00200052': element('UI', [at.frameOfReferenceUid]),
    '00209221': element('SQ', [{ '00209164': element('UI', [uidOf(seed, 'dimension-organization')]) }]),
    '00280002': element('US', [1]),
    '00280004': element('CS', ['MONOCHROME2']),
    '00280008': element('IS', [frames]),
    '00280010': element('US', [size]),
    '00280011': element('US', [size]),
    '00280100': element('US', [16]),
    '00280101': element('US', [spec.modality === 'CT' ? 12 : 16]),
    '00280102': element('US', [spec.modality === 'CT' ? 11 : 15]),
    '00280103': element('US', [0]),
    '00280301': element('CS', ['NO']),
    '00400275': element('SQ', [
      {
        '00080050': element('SH', [phi.accessionNumber]),
        '00321032': element('PN', pn(phi.requestingPhysician)),
        '00401001': element('SH', [phi.requestedProcedureId]),
        '00400009': element('SH', [`SPS-${phi.requestedProcedureId}`]),
      },
    ]),
    '52009229': element('SQ', [
      {
        '00289110': element('SQ', [{ '00280030': element('DS', [0.7, 0.7]), '00180050': element('DS', [thickness]) }]),
        '00209116': element('SQ', [{ '00200037': element('DS', [1, 0, 0, 0, 1, 0]) }]),
        ...(spec.modality === 'CT'
          ? {
              '00289145': element('SQ', [
                { '00281052': element('DS', [-1024]), '00281053': element('DS', [1]), '00281054': element('LO', ['HU']) },
              ]),
            }
          : {}),
      },
    ]),
    '52009230': element('SQ', perFrame),
    // a vendor's private block: vendors copy the patient's name and ID here, out of reach of a public-tag cleaner
    '00290010': element('LO', ['ACME_PRIVATE 3.1']),
    '00291010': element('LO', [phi.patientName]),
    '00291011': element('LO', [phi.patientId]),
    '00291012': element('UN', [new TextEncoder().encode(`${phi.accessionNumber} ${phi.studyDate}`).buffer]),
    '7FE00010': element('OW', [phantom(size, frames, `${seed}/${at.sopInstanceUid}`, spec.modality)]),
  };
  const meta: DcmDataset = {
    '00020001': element('OB', [new Uint8Array([0, 1]).buffer]),
    '00020002': element('UI', [sopClass]),
    '00020003': element('UI', [at.sopInstanceUid]),
    '00020010': element('UI', [EXPLICIT_LE]),
    '00020012': element('UI', ['1.2.826.0.1.3680043.10.1424.1']),
    '00020013': element('SH', ['OPENREAD_TEST']),
    '00020016': element('AE', [phi.stationName]),
  };
  return writePart10({ meta, dataset });
}

/**
 * Frames of a body phantom: an ellipse of soft tissue with a bright disc that moves from frame to frame, and noise.
 * Air is 0-31 (control characters as bytes) and tissue is above 0x1FF, so no pixel is a printable character in
 * UTF-8, Latin-1 or UTF-16: a value the PHI scan finds can never come from the pixels.
 */
function phantom(size: number, frames: number, seed: string, modality: GeneratedModality): ArrayBuffer {
  const pixels = new Uint16Array(size * size * frames);
  let x = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  const noise = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % 32;
  };
  const c = size / 2;
  const [air, tissue, bright] = modality === 'CT' ? [0, 1064, 1724] : [0, 620, 1900];
  for (let f = 0; f < frames; f++) {
    const dx = c + (size / 6) * Math.sin((f / Math.max(1, frames)) * Math.PI * 2);
    const base = f * size * size;
    for (let y = 0; y < size; y++) {
      for (let xx = 0; xx < size; xx++) {
        const ex = (xx - c) / (size * 0.42);
        const ey = (y - c) / (size * 0.32);
        let v = ex * ex + ey * ey <= 1 ? tissue : air;
        if ((xx - dx) ** 2 + (y - c) ** 2 <= (size / 14) ** 2) v = bright;
        pixels[base + y * size + xx] = v + noise();
      }
    }
  }
  return pixels.buffer;
}

export type SpecialKind =
  'burned-in-ct' | 'ultrasound-unflagged' | 'secondary-capture' | 'encapsulated-pdf' | 'sr-free-text' | 'unknown-sop-class';

/** One instance of a kind the de-identification must refuse, carrying the same PHI (so a leak would show). */
export function generateRefusable(kind: SpecialKind, phi: StudyPhi = DEFAULT_PHI, seed = 'refusable'): Uint8Array {
  const study = generateStudy({ modality: 'CT', series: 1, instancesPerSeries: 1, framesPerInstance: 1, size: 64, seed, phi });
  const [ct] = study.instances();
  if (kind === 'burned-in-ct') return patched(ct, { '00280301': element('CS', ['YES']) });
  if (kind === 'ultrasound-unflagged') {
    // ultrasound usually shows the patient's name in the image: without an explicit BurnedInAnnotation NO, refused
    const us = '1.2.840.10008.5.1.4.1.1.6.1';
    return rewrite(ct, (meta, dataset) => {
      delete dataset['00280301'];
      dataset['00080016'] = element('UI', [us]);
      dataset['00080060'] = element('CS', ['US']);
      meta['00020002'] = element('UI', [us]);
    });
  }
  const sopClass = {
    'secondary-capture': '1.2.840.10008.5.1.4.1.1.7',
    'encapsulated-pdf': '1.2.840.10008.5.1.4.1.1.104.1',
    'sr-free-text': '1.2.840.10008.5.1.4.1.1.88.11',
    'unknown-sop-class': '1.2.840.10008.5.1.4.1.1.9.1.1',
  }[kind];
  const extra: DcmDataset = { '00080016': element('UI', [sopClass]) };
  if (kind === 'encapsulated-pdf') {
    extra['00420011'] = element('OB', [new TextEncoder().encode(`%PDF-1.4 Report for ${phi.patientName}`).buffer]);
    extra['00420012'] = element('LO', ['application/pdf']);
  }
  if (kind === 'sr-free-text') {
    extra['0040A730'] = element('SQ', [
      {
        '0040A040': element('CS', ['TEXT']),
        '0040A160': element('UT', [`${phi.patientName} reports chest pain since ${iso(phi.studyDate)}`]),
      },
    ]);
  }
  return patched(ct, extra, sopClass);
}

function patched(bytes: Uint8Array, changes: DcmDataset, sopClass?: string): Uint8Array {
  // re-read with dcmjs, change, write: a test fixture, so one instance in memory is fine
  return rewrite(bytes, (meta, dataset) => {
    Object.assign(dataset, changes);
    if (sopClass) meta['00020002'] = element('UI', [sopClass]);
  });
}

function rewrite(bytes: Uint8Array, change: (meta: DcmDataset, dataset: DcmDataset) => void): Uint8Array {
  const { meta, dataset } = readPart10(bytes);
  change(meta, dataset);
  return writePart10({ meta, dataset });
}
