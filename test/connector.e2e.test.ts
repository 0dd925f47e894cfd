/**
 * The RO connector (#connector) against a real Orthanc (test/support/orthanc.ts): a generated multi-series CT study in
 * the PACS is imported (WADO-RS → PS3.15 de-identification → encrypted chunks in a filesystem blob store), read back
 * and verified as a reader would, compared with the original (pixel data of every instance, no PHI in any byte), and
 * a report goes back into the PACS as a Basic Text SR in the original study over STOW-RS.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASIC_TEXT_SR,
  buildBasicTextSr,
  ConnectorError,
  FsReidentificationStore,
  importStudy,
  reportTextOf,
  returnReport,
  type ImportResult,
} from '#connector';
import { Deidentifier, DicomWebClient, readPart10, textOf } from '#dicom';
import { findPhi, generateRefusable, generateStudy, phiNeedles, DEFAULT_PHI } from '#dicom/testing';
import { FsBlobStore, readStudy, unframeInstances } from '#storage';
import { startOrthanc, type Orthanc } from './support/orthanc.js';

// 3 series × 3 instances × 6 frames of 512×512×16 bit: ~28 MB of DICOM
const ct = generateStudy({ modality: 'CT', series: 3, instancesPerSeries: 3, framesPerInstance: 6, seed: 'connector-ct' });
const burnedIn = generateRefusable('burned-in-ct', DEFAULT_PHI, 'connector-burned-in');
const burnedInStudyUid = textOf(readPart10(burnedIn, true).dataset, '0020000D');
const needles = phiNeedles(ct.phi);

const pixelHash = (bytes: Uint8Array) => {
  const pixels = readPart10(bytes).dataset['7FE00010'].Value![0] as ArrayBuffer;
  return createHash('sha256').update(Buffer.from(pixels)).digest('hex');
};

let orthanc: Orthanc;
let pacs: DicomWebClient;
let dir: string;
let store: FsBlobStore;
let maps: FsReidentificationStore;
const originalPixels = new Map<string, string>(); // original SOP instance UID → SHA-256 of its pixel data
let originalBytes = 0;
const deidentifier = new Deidentifier({ secret: 'the-ro-connector-secret-0123456789' });
const studyId = `0x${randomBytes(32).toString('hex')}`;
const studyKey = randomBytes(32);
let imported: ImportResult;

beforeAll(async () => {
  orthanc = await startOrthanc();
  pacs = new DicomWebClient({ url: orthanc.dicomWebUrl });
  dir = mkdtempSync(join(tmpdir(), 'openread-connector-'));
  store = new FsBlobStore({ root: join(dir, 'blobs') });
  maps = new FsReidentificationStore({ dir: join(dir, 'reidentification') });
  for (const bytes of ct.instances()) {
    expect(findPhi(bytes, needles).length, 'the scan finds the PHI in the input').toBeGreaterThan(10);
    originalPixels.set(textOf(readPart10(bytes, true).dataset, '00080018'), pixelHash(bytes));
    originalBytes += bytes.byteLength;
    await orthanc.store(bytes);
  }
  await orthanc.store(burnedIn);
});
afterAll(async () => {
  await orthanc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('importStudy: PACS → de-identify → encrypted chunks', () => {
  it('stores the study so that a reader gets every instance with its original pixels and no PHI in any byte', async () => {
    expect(originalBytes).toBeGreaterThan(20 * 2 ** 20);
    imported = await importStudy(pacs, ct.studyInstanceUid, { studyId, studyKey, store, deidentifier, reidentification: maps });
    expect(imported.refused).toEqual([]);
    expect(imported.deidentifiedStudyUid).not.toBe(ct.studyInstanceUid);

    // read back as a reader does: manifest against the recorded root, every chunk verified, decrypted, unframed
    const seen = new Set<string>();
    const seriesSeen = new Set<string>();
    let bytes = 0;
    for await (const instance of unframeInstances(
      readStudy(imported.manifest, { studyKey, store, expectedRoot: imported.manifest.merkleRoot }),
    )) {
      bytes += instance.length;
      expect(findPhi(instance, needles), 'PHI in a de-identified instance').toEqual([]);
      // the original UIDs are the RO's too: none of them is in what was shared
      for (const uid of [ct.studyInstanceUid, ...ct.series.keys(), ...originalPixels.keys()])
        expect(instance.includes(Buffer.from(uid))).toBe(false);
      const { dataset } = readPart10(instance, true);
      expect(textOf(dataset, '0020000D')).toBe(imported.deidentifiedStudyUid);
      expect(textOf(dataset, '00120062')).toBe('YES');
      const sop = textOf(dataset, '00080018');
      const series = imported.reidentification.series.find((s) => s.instances.some((i) => i.deidentified === sop))!;
      const original = series.instances.find((i) => i.deidentified === sop)!.original;
      expect(textOf(dataset, '0020000E')).toBe(series.deidentified);
      expect(pixelHash(instance), `pixel data of ${original}`).toBe(originalPixels.get(original));
      seen.add(original);
      seriesSeen.add(series.original);
    }
    expect([...seen].sort()).toEqual([...originalPixels.keys()].sort());
    expect([...seriesSeen].sort()).toEqual([...ct.series.keys()].sort());

    expect(imported.metadata).toEqual({
      modality: 'CT',
      dicomModalities: ['CT'],
      bodyPart: 'CHEST',
      seriesCount: 3,
      instanceCount: 9,
      byteSize: bytes,
    });
    expect(imported.manifest.plaintextLength).toBe(bytes + 8 * 9); // each instance framed by its 8-byte length
    expect(imported.manifest.chunks.length).toBeGreaterThan(5);
    // what leaves the RO (manifest, metadata) holds no PHI and no original UID
    const published = Buffer.from(JSON.stringify({ manifest: imported.manifest, metadata: imported.metadata }));
    expect(findPhi(published, needles)).toEqual([]);
    expect(published.includes(Buffer.from(ct.studyInstanceUid))).toBe(false);
  });

  it('keeps the re-identification map on the RO side only, in a file only the RO can read', async () => {
    const map = await maps.load(studyId);
    expect(map).toEqual(imported.reidentification);
    expect(map.study).toEqual({ deidentified: imported.deidentifiedStudyUid, original: ct.studyInstanceUid });
    expect(map.series.map((s) => s.original).sort()).toEqual([...ct.series.keys()].sort());
    for (const s of map.series) expect(s.instances.map((i) => i.original)).toEqual(ct.series.get(s.original));
    expect(statSync(join(dir, 'reidentification', `${studyId.toLowerCase()}.json`)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'reidentification')).mode & 0o777).toBe(0o700);
    await expect(maps.load(`0x${'00'.repeat(32)}`)).rejects.toMatchObject({ code: 'REIDENTIFICATION_UNKNOWN', retryable: false });
  });

  it('answers REIDENTIFICATION_UNAVAILABLE (retryable) when the map store fails or hangs', async () => {
    // a file where the store's directory should be
    const blocked = new FsReidentificationStore({ dir: join(dir, 'not-a-directory', 'maps') });
    writeFileSync(join(dir, 'not-a-directory'), '');
    await expect(blocked.save(imported.reidentification)).rejects.toMatchObject({ code: 'REIDENTIFICATION_UNAVAILABLE', retryable: true });
    // a FIFO with no writer: reading blocks, as a hung network mount does
    const hung = new FsReidentificationStore({ dir: join(dir, 'hung'), deadlineMs: 200 });
    const id = `0x${'11'.repeat(32)}`;
    mkdirSync(join(dir, 'hung'));
    execFileSync('mkfifo', [join(dir, 'hung', `${id}.json`)]);
    try {
      await expect(hung.load(id)).rejects.toMatchObject({ code: 'REIDENTIFICATION_UNAVAILABLE', detail: 'no answer within 200 ms' });
    } finally {
      writeFileSync(join(dir, 'hung', `${id}.json`), ''); // releases the thread still blocked in the read
    }
  });

  it('refuses a study whose every instance the de-identification refuses, and stops at a refusal when asked to', async () => {
    const opts = { studyId: `0x${randomBytes(32).toString('hex')}`, studyKey, store, deidentifier };
    const none = await importStudy(pacs, burnedInStudyUid, opts).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(ConnectorError);
    expect(none).toMatchObject({ code: 'NOTHING_SHAREABLE', detail: 'BURNED_IN_ANNOTATION' });
    await expect(importStudy(pacs, burnedInStudyUid, { ...opts, onRefused: 'fail' })).rejects.toMatchObject({
      code: 'INSTANCE_REFUSED',
      detail: 'BURNED_IN_ANNOTATION',
    });
  });
});

describe('returnReport: the report back into the PACS as an SR (STOW-RS)', () => {
  const reportText =
    'Befund: CT Thorax. Keine Lungenembolie. Rundherd im rechten Unterlappen, 6 mm (Größe stabil).\nBeurteilung: Kontrolle in 12 Monaten.';

  it('stores a Basic Text SR in the original study, found there by QIDO-RS, whose text is the report', async () => {
    // RO side: the shared study's ID → the original study, from the RO's own map
    const map = await maps.load(studyId);
    const returned = await returnReport(pacs, { originalStudyUid: map.study.original, reportText, reidentification: map });
    expect(returned.studyInstanceUid).toBe(ct.studyInstanceUid);

    const srSeries = await pacs.findSeries(ct.studyInstanceUid, { Modality: 'SR' });
    expect(srSeries.map((s) => s.seriesInstanceUid)).toEqual([returned.seriesInstanceUid]);
    const [instance] = await pacs.findInstances(ct.studyInstanceUid, returned.seriesInstanceUid);
    expect(instance.sopInstanceUid).toBe(returned.sopInstanceUid);
    // the study now holds its images and the report
    const all = await Promise.all(
      (await pacs.findSeries(ct.studyInstanceUid)).map((s) => pacs.findInstances(ct.studyInstanceUid, s.seriesInstanceUid)),
    );
    expect(all.flat()).toHaveLength(9 + 1);

    const stored = [];
    for await (const bytes of pacs.retrieveInstance(instance)) stored.push(bytes);
    expect(stored).toHaveLength(1);
    expect(reportTextOf(stored[0])).toBe(reportText);
    const { dataset } = readPart10(stored[0]);
    expect(textOf(dataset, '00080016')).toBe(BASIC_TEXT_SR);
    // the PACS's own patient and study identity (so the report files with the patient's study)
    expect(textOf(dataset, '00100020')).toBe(ct.phi.patientId);
    expect(textOf(dataset, '00100010')).toBe(ct.phi.patientName);
    expect(textOf(dataset, '00080050')).toBe(ct.phi.accessionNumber);
    // its evidence: every original instance, none of the de-identified UIDs
    const evidence = dataset['0040A375'].Value![0] as Record<string, { Value?: unknown[] }>;
    const referenced = (evidence['00081115'].Value as Record<string, { Value?: unknown[] }>[]).flatMap((s) =>
      (s['00081199'].Value as Record<string, { Value?: unknown[] }>[]).map((i) => String(i['00081155'].Value![0])),
    );
    expect(referenced.sort()).toEqual([...originalPixels.keys()].sort());
    expect(Buffer.from(stored[0]).includes(Buffer.from(imported.deidentifiedStudyUid))).toBe(false);
  });

  it('answers PACS_NOT_FOUND for a study the PACS does not have, and REPORT_INVALID for an empty report', async () => {
    await expect(returnReport(pacs, { originalStudyUid: '1.2.3.4.5.6.7.8.9', reportText })).rejects.toMatchObject({
      code: 'PACS_NOT_FOUND',
    });
    await expect(returnReport(pacs, { originalStudyUid: ct.studyInstanceUid, reportText: '  ' })).rejects.toMatchObject({
      code: 'REPORT_INVALID',
    });
  });

  it('answers PACS_REFUSED when the PACS does not store the SR, PACS_UNAVAILABLE (retryable) when it cannot be reached', async () => {
    // an SR of one study sent to another study's STOW-RS URL: the PACS stores nothing
    const { bytes } = buildBasicTextSr({ originalStudyUid: ct.studyInstanceUid, reportText }, {});
    await expect(pacs.storeInstances([bytes], burnedInStudyUid)).rejects.toMatchObject({ code: 'PACS_REFUSED', retryable: false });
    const down = new DicomWebClient({ url: `http://127.0.0.1:${await closedPort()}/dicom-web` });
    await expect(down.storeInstances([bytes], ct.studyInstanceUid)).rejects.toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true });
    expect(await pacs.findSeries(burnedInStudyUid, { Modality: 'SR' })).toEqual([]);
  });
});

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
