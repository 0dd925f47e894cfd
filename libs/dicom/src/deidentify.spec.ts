import { describe, expect, it } from 'vitest';
import { DEFAULT_PHI, findPhi, generateRefusable, generateStudy, phiNeedles, type GeneratedStudy, type StudyPhi } from '#dicom/testing';
import { Deidentifier, deidentifyInstances } from './deidentify.js';
import { StudyMetadataCollector } from './metadata.js';
import { readPart10, textOf, PIXEL_DATA, type DcmDataset } from './part10.js';
import { BASIC_PROFILE, PROFILE_RESOLUTION } from './profile.js';

const SECRET = 'test-secret-of-the-ro-0123456789';

const MR_PHI: StudyPhi = {
  ...DEFAULT_PHI,
  patientName: 'Ødegård^Bjørn^Sverre',
  patientId: 'PID-90311542',
  patientBirthDate: '19781203',
  accessionNumber: 'RAD78120577',
  studyDate: '20260921',
  institutionName: 'Clinique Sainte-Bernadette',
  referringPhysicianName: 'Nakashima^Yoshiko',
};

/** Every UID value anywhere in a data set (sequences included), with its tag. */
function uidsOf(ds: DcmDataset, out: [string, string][] = []): [string, string][] {
  for (const [tag, el] of Object.entries(ds)) {
    if (el.vr === 'UI') for (const v of el.Value ?? []) out.push([tag, String(v)]);
    if (el.vr === 'SQ') for (const item of el.Value ?? []) uidsOf(item as DcmDataset, out);
  }
  return out;
}
function oddGroups(ds: DcmDataset, out: string[] = []): string[] {
  for (const [tag, el] of Object.entries(ds)) {
    if (parseInt(tag.slice(0, 4), 16) % 2 === 1) out.push(tag);
    if (el.vr === 'SQ') for (const item of el.Value ?? []) oddGroups(item as DcmDataset, out);
  }
  return out;
}
const pixelsOf = (ds: DcmDataset) => Buffer.from(ds[PIXEL_DATA].Value![0] as ArrayBuffer);
const dayNumber = (da: string) => Date.UTC(+da.slice(0, 4), +da.slice(4, 6) - 1, +da.slice(6, 8)) / 86_400_000;

interface Outcome {
  inputPhiFound: Set<string>;
  outputPhiFound: string[];
  originalUidsFound: string[];
  out: { meta: DcmDataset; dataset: DcmDataset; bytes: Uint8Array }[];
  inputs: { dataset: DcmDataset }[];
}

/** Streams a generated study through the de-identification, scanning every input and output instance as it passes. */
async function run(study: GeneratedStudy, deid: Deidentifier): Promise<Outcome> {
  const needles = phiNeedles(study.phi);
  const inputPhiFound = new Set<string>();
  const outputPhiFound: string[] = [];
  const originalUidsFound: string[] = [];
  const originalUids = new Set<string>();
  const out: Outcome['out'] = [];
  const inputs: Outcome['inputs'] = [];
  const tee = function* () {
    for (const bytes of study.instances()) {
      for (const label of findPhi(bytes, needles)) inputPhiFound.add(label.split(' ')[0]);
      const { dataset } = readPart10(bytes);
      for (const [tag, uid] of uidsOf(dataset)) if (tag !== '00080016' && tag !== '00081150') originalUids.add(uid);
      inputs.push({ dataset: { [PIXEL_DATA]: dataset[PIXEL_DATA], '00080018': dataset['00080018'] } });
      yield bytes;
    }
  };
  for await (const result of deidentifyInstances(tee(), deid)) {
    expect(result.ok, JSON.stringify(!result.ok && result.refusal)).toBe(true);
    if (!result.ok) continue;
    outputPhiFound.push(...findPhi(result.bytes, needles));
    const text = Buffer.from(result.bytes).toString('latin1');
    for (const uid of originalUids) if (text.includes(uid)) originalUidsFound.push(uid);
    const { meta, dataset } = readPart10(result.bytes);
    out.push({ meta, dataset, bytes: result.bytes });
  }
  return { inputPhiFound, outputPhiFound, originalUidsFound, out, inputs };
}

describe('de-identification (PS3.15 Basic Profile)', () => {
  const ct = generateStudy({ modality: 'CT', series: 2, instancesPerSeries: 3, framesPerInstance: 8, seed: 'ct-1' });
  const mr = generateStudy({ modality: 'MR', series: 3, instancesPerSeries: 2, framesPerInstance: 12, seed: 'mr-1', phi: MR_PHI });

  const ctDeid = new Deidentifier({ secret: SECRET });
  let ctRun: Promise<Outcome> | undefined;
  const ctOutcome = () => (ctRun ??= run(ct, ctDeid));

  it.each([
    ['CT (512×512, 2 series × 3 instances × 8 frames)', ct],
    ['MR (256×256, 3 series × 2 instances × 12 frames)', mr],
  ])('%s: no byte of any output instance holds a PHI value of the input, in any case or encoding', async (_, study) => {
    const outcome = study === ct ? await ctOutcome() : await run(study, new Deidentifier({ secret: SECRET }));
    // the scan can fail: every PHI value is present in the input, in at least one form
    expect([...outcome.inputPhiFound].sort()).toEqual(
      Object.keys(study.phi)
        .filter((k) => k !== 'studyTime')
        .sort(),
    );
    expect(outcome.outputPhiFound).toEqual([]);
    expect(outcome.originalUidsFound).toEqual([]);
    expect(outcome.out).toHaveLength([...study.series.values()].flat().length);
  });

  it('with dates removed instead of shifted, no byte holds a PHI value either', async () => {
    const small = generateStudy({
      modality: 'MR',
      series: 2,
      instancesPerSeries: 2,
      framesPerInstance: 3,
      size: 64,
      seed: 'mr-dates-removed',
    });
    const outcome = await run(small, new Deidentifier({ secret: SECRET, dates: 'remove' }));
    expect(outcome.inputPhiFound.size).toBe(Object.keys(small.phi).length - 1);
    expect(outcome.outputPhiFound).toEqual([]);
    expect(outcome.originalUidsFound).toEqual([]);
  });

  it('remaps UIDs consistently within the study: series and instances still link, references resolve', async () => {
    const deid = ctDeid;
    const { out, inputs } = await ctOutcome();
    const studyUids = new Set(out.map((o) => textOf(o.dataset, '0020000D')));
    expect([...studyUids]).toEqual([deid.studyUidOf(ct.studyInstanceUid)]);
    expect([...studyUids][0]).not.toBe(ct.studyInstanceUid);
    expect([...studyUids][0]).toMatch(/^2\.25\.\d+$/);

    const bySeries = new Map<string, string[]>();
    for (const o of out)
      bySeries.set(textOf(o.dataset, '0020000E'), [...(bySeries.get(textOf(o.dataset, '0020000E')) ?? []), textOf(o.dataset, '00080018')]);
    expect([...bySeries.values()].map((v) => v.length)).toEqual([...ct.series.values()].map((v) => v.length));
    const sops = out.map((o) => textOf(o.dataset, '00080018'));
    expect(new Set(sops).size).toBe(sops.length);
    for (const o of out) expect(textOf(o.meta, '00020003')).toBe(textOf(o.dataset, '00080018'));
    expect(new Set(out.map((o) => textOf(o.dataset, '00200052'))).size).toBe(1);

    // series 2 references series 1's instance of the same number: the reference must name that instance's new UID
    const [first, second] = [...bySeries.values()];
    const referencing = out.filter((o) => bySeries.get(textOf(o.dataset, '0020000E')) === second);
    expect(referencing).toHaveLength(3);
    for (const [i, o] of referencing.entries()) {
      const item = o.dataset['00081140'].Value![0] as DcmDataset;
      expect(textOf(item, '00081155')).toBe(first[i]);
      expect(textOf(item, '00081150')).toBe('1.2.840.10008.5.1.4.1.1.2.1'); // a SOP class UID is not remapped
    }
    // pixels pass through untouched
    for (const [i, o] of out.entries()) expect(pixelsOf(o.dataset).equals(pixelsOf(inputs[i].dataset))).toBe(true);
  });

  it('maps a re-exported study the same way with the same secret, differently with another', async () => {
    const [one] = ct.instances();
    const a = new Deidentifier({ secret: SECRET }).instance(one);
    const b = new Deidentifier({ secret: SECRET }).instance(one);
    const c = new Deidentifier({ secret: 'another-ro-secret-abcdefghijklmn' }).instance(one);
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (!a.ok || !b.ok || !c.ok) return;
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    expect(c.studyInstanceUid).not.toBe(a.studyInstanceUid);
    expect(c.sopInstanceUid).not.toBe(a.sopInstanceUid);
    expect(() => new Deidentifier({ secret: 'short' })).toThrow(/at least 16 bytes/);
  });

  it('shifts every date of a study by one offset (intervals kept, times kept), or drops them', async () => {
    const [one] = ct.instances();
    const shifted = new Deidentifier({ secret: SECRET }).instance(one);
    const removed = new Deidentifier({ secret: SECRET, dates: 'remove' }).instance(one);
    if (!shifted.ok || !removed.ok) throw new Error('refused');
    const s = readPart10(shifted.bytes).dataset;
    const offset = dayNumber(textOf(s, '00080020')) - dayNumber(ct.phi.studyDate);
    expect(offset).toBeLessThanOrEqual(-30);
    expect(dayNumber(textOf(s, '00100030')) - dayNumber(ct.phi.patientBirthDate)).toBe(offset);
    expect(dayNumber(textOf(s, '00080021')) - dayNumber(ct.phi.studyDate)).toBe(offset);
    const frame = ((s['52009230'].Value![0] as DcmDataset)['00209111'].Value![0] as DcmDataset)['00189074'];
    const frameDt = String(frame.Value![0]);
    expect(dayNumber(frameDt.slice(0, 8)) - dayNumber(ct.phi.studyDate)).toBe(offset);
    expect(frameDt.slice(8).trim()).toMatch(/^14\d{4}\.\d{6}$/);
    expect(textOf(s, '00280303')).toBe('MODIFIED');

    const r = readPart10(removed.bytes).dataset;
    expect(textOf(r, '00080020')).toBe('');
    expect(textOf(r, '00100030')).toBe('');
    expect(textOf(r, '00080021')).toBe('19000101'); // X/D: a dummy date
    expect(r['00280303']).toBeUndefined();
  });

  it('marks the instance de-identified, removes private attributes everywhere, keeps what the metadata needs', async () => {
    const [one] = mr.instances();
    const result = new Deidentifier({ secret: SECRET }).instance(one);
    if (!result.ok) throw new Error('refused');
    const { dataset, meta } = readPart10(result.bytes);
    expect(textOf(dataset, '00120062')).toBe('YES');
    expect(textOf(dataset, '00120063')).toContain('Basic Application Confidentiality Profile');
    const codes = (dataset['00120064'].Value as DcmDataset[]).map((item) => [textOf(item, '00080100'), textOf(item, '00080102')]);
    expect(codes).toEqual([
      ['113100', 'DCM'],
      ['113107', 'DCM'],
    ]);
    expect(oddGroups(dataset)).toEqual([]);
    expect(meta['00020016']).toBeUndefined(); // the sending station's AE title
    expect(textOf(dataset, '00100010')).toBe('');
    expect(textOf(dataset, '00100020')).toMatch(/^OR-[0-9A-F]{16}$/);
    expect(dataset['00400275']).toBeUndefined();
    expect(textOf(dataset, '00080060')).toBe('MR');
    expect(textOf(dataset, '00180015')).toBe('HEAD');
  });

  it.each([
    ['burned-in-ct', 'BURNED_IN_ANNOTATION'],
    ['ultrasound-unflagged', 'BURNED_IN_ANNOTATION'],
    ['secondary-capture', 'SECONDARY_CAPTURE'],
    ['encapsulated-pdf', 'ENCAPSULATED_DOCUMENT'],
    ['sr-free-text', 'STRUCTURED_REPORT'],
    ['unknown-sop-class', 'UNSUPPORTED_SOP_CLASS'],
  ] as const)('refuses %s with the typed reason %s and a sentence, and writes nothing', (kind, reason) => {
    const result = new Deidentifier({ secret: SECRET }).instance(generateRefusable(kind));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.refusal.reason).toBe(reason);
    expect(result.refusal.sentence.length).toBeGreaterThan(20);
    expect(findPhi(Buffer.from(JSON.stringify(result.refusal)), phiNeedles(DEFAULT_PHI))).toEqual([]);
  });

  it('refuses bytes that are not DICOM', () => {
    const result = new Deidentifier({ secret: SECRET }).instance(new TextEncoder().encode('not a dicom file at all'.repeat(10)));
    expect(result.ok || result.refusal.reason).toBe('NOT_DICOM');
  });

  it('derives the marketplace metadata from the de-identified instances', async () => {
    const deid = new Deidentifier({ secret: SECRET });
    for (const [study, modality, bodyPart] of [
      [ct, 'CT', 'CHEST'],
      [mr, 'MR', 'HEAD'],
    ] as const) {
      const collector = new StudyMetadataCollector();
      let bytes = 0;
      for await (const r of deidentifyInstances(study.instances(), deid)) {
        if (!r.ok) throw new Error(r.refusal.reason);
        collector.add(r.bytes);
        bytes += r.bytes.byteLength;
      }
      expect(collector.result()).toEqual({
        modality,
        dicomModalities: [modality],
        bodyPart,
        seriesCount: study.series.size,
        instanceCount: [...study.series.values()].flat().length,
        byteSize: bytes,
      });
      // realistic sizes: a CT frame is 512×512×2 bytes
      if (modality === 'CT') expect(bytes).toBeGreaterThan(6 * 8 * 512 * 512 * 2);
    }
  });

  it('keeps the profile as one table: each attribute once, each code resolved', () => {
    const tags = BASIC_PROFILE.map((e) => e.tag);
    expect(new Set(tags).size).toBe(tags.length);
    for (const e of BASIC_PROFILE) {
      expect(e.tag).toMatch(/^[0-9A-F]{4}[0-9A-F]{4}$|^[56]0xx[0-9A-F]{4}$/);
      expect(PROFILE_RESOLUTION[e.code]).toBeDefined();
    }
  });
});
