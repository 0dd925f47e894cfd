/**
 * DICOM in, on the RO side, against a real Orthanc (test/support/orthanc.ts): generated multi-frame CT and MR studies
 * are stored in the PACS, found over QIDO-RS, retrieved over WADO-RS one instance at a time, de-identified and
 * summarised for the marketplace; no PHI survives, and a PACS that is down or cut off answers a typed, retryable error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deidentifier, DicomWebClient, DicomWebError, StudyMetadataCollector, deidentifyInstances, readPart10, textOf } from '#dicom';
import { DEFAULT_PHI, findPhi, generateRefusable, generateStudy, phiNeedles, type StudyPhi } from '#dicom/testing';
import { startOrthanc, type Orthanc } from './support/orthanc.js';
import { PausableProxy } from './support/tcp-proxy.js';

const MR_PHI: StudyPhi = { ...DEFAULT_PHI, patientName: 'García-Ibáñez^Lucía', patientId: 'MRN-55120984', accessionNumber: 'ACC77310458' };
const ct = generateStudy({ modality: 'CT', series: 2, instancesPerSeries: 3, framesPerInstance: 8, seed: 'orthanc-ct' });
const mr = generateStudy({ modality: 'MR', series: 2, instancesPerSeries: 2, framesPerInstance: 10, seed: 'orthanc-mr', phi: MR_PHI });
const burnedIn = generateRefusable('burned-in-ct', DEFAULT_PHI, 'orthanc-burned-in');
const burnedInStudyUid = textOf(readPart10(burnedIn, true).dataset, '0020000D');

let orthanc: Orthanc;
let pacs: DicomWebClient;
const stored = new Map<string, Buffer>(); // SOP instance UID → the bytes stored

beforeAll(async () => {
  orthanc = await startOrthanc();
  pacs = new DicomWebClient({ url: orthanc.dicomWebUrl });
  for (const study of [ct, mr]) {
    for (const bytes of study.instances()) {
      stored.set(textOf(readPart10(bytes, true).dataset, '00080018'), Buffer.from(bytes));
      await orthanc.store(bytes);
    }
  }
  await orthanc.store(burnedIn);
});
afterAll(async () => {
  await orthanc?.stop();
});

describe('DICOMweb client against a real Orthanc', () => {
  it('finds studies, series and instances (QIDO-RS)', async () => {
    const studies = await pacs.findStudies();
    expect(studies.map((s) => s.studyInstanceUid).sort()).toEqual([ct.studyInstanceUid, mr.studyInstanceUid, burnedInStudyUid].sort());

    const byPatient = await pacs.findStudies({ PatientID: MR_PHI.patientId });
    expect(byPatient.map((s) => s.studyInstanceUid)).toEqual([mr.studyInstanceUid]);
    const byAccession = await pacs.findStudies({ AccessionNumber: DEFAULT_PHI.accessionNumber, ModalitiesInStudy: 'CT' });
    expect(byAccession.map((s) => s.studyInstanceUid).sort()).toEqual([ct.studyInstanceUid, burnedInStudyUid].sort());

    const series = await pacs.findSeries(ct.studyInstanceUid);
    expect(series.map((s) => s.seriesInstanceUid).sort()).toEqual([...ct.series.keys()].sort());
    for (const s of series) {
      const instances = await pacs.findInstances(ct.studyInstanceUid, s.seriesInstanceUid);
      expect(instances.map((i) => i.sopInstanceUid).sort()).toEqual([...ct.series.get(s.seriesInstanceUid)!].sort());
    }
    expect(await pacs.findStudies({ PatientID: 'NOBODY-0000' })).toEqual([]);
  });

  it('retrieves a whole study as multipart/related application/dicom, instance by instance, byte for byte (WADO-RS)', async () => {
    const seen: string[] = [];
    for await (const bytes of pacs.retrieveStudy(ct.studyInstanceUid)) {
      const sop = textOf(readPart10(bytes, true).dataset, '00080018');
      expect(Buffer.from(bytes).equals(stored.get(sop)!), sop).toBe(true);
      seen.push(sop);
    }
    expect(seen.sort()).toEqual([...ct.series.values()].flat().sort());

    const [seriesUid, [sopUid]] = [...mr.series][1];
    const single = [];
    for await (const bytes of pacs.retrieveInstance({
      studyInstanceUid: mr.studyInstanceUid,
      seriesInstanceUid: seriesUid,
      sopInstanceUid: sopUid,
    }))
      single.push(bytes);
    expect(single).toHaveLength(1);
    expect(Buffer.from(single[0]).equals(stored.get(sopUid)!)).toBe(true);
  });

  it('streams PACS → de-identification → marketplace metadata with no PHI left, and refuses the burned-in image', async () => {
    const deid = new Deidentifier({ secret: 'the-ro-connector-secret-0123456789' });
    for (const [study, modality, bodyPart] of [
      [ct, 'CT', 'CHEST'],
      [mr, 'MR', 'HEAD'],
    ] as const) {
      const needles = phiNeedles(study.phi);
      const collector = new StudyMetadataCollector();
      let bytes = 0;
      for await (const result of deidentifyInstances(pacs.retrieveStudy(study.studyInstanceUid), deid)) {
        if (!result.ok) throw new Error(result.refusal.reason);
        expect(findPhi(result.bytes, needles)).toEqual([]);
        expect(result.studyInstanceUid).toBe(deid.studyUidOf(study.studyInstanceUid));
        collector.add(result.bytes);
        bytes += result.bytes.byteLength;
      }
      expect(collector.result()).toEqual({
        modality,
        dicomModalities: [modality],
        bodyPart,
        seriesCount: study.series.size,
        instanceCount: [...study.series.values()].flat().length,
        byteSize: bytes,
      });
    }
    const refused = [];
    for await (const result of deidentifyInstances(pacs.retrieveStudy(burnedInStudyUid), deid))
      refused.push(result.ok || result.refusal.reason);
    expect(refused).toEqual(['BURNED_IN_ANNOTATION']);
  });

  it('answers PACS_NOT_FOUND for an unknown study and PACS_UNAVAILABLE (retryable) when the PACS is unreachable', async () => {
    const unknown = pacs.retrieveStudy('1.2.3.4.5.6.7.8.9');
    await expect(unknown.next()).rejects.toMatchObject({ code: 'PACS_NOT_FOUND', retryable: false });

    const down = new DicomWebClient({ url: `http://127.0.0.1:${(await closedPort()).toString()}/dicom-web` });
    const error = await down.findStudies().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DicomWebError);
    expect(error).toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true });
  });

  it('fails with the install command when Orthanc is not installed', async () => {
    await expect(startOrthanc({ binary: '/nonexistent/Orthanc' })).rejects.toThrow(
      'apt-get update && apt-get install -y orthanc orthanc-dicomweb',
    );
  });

  it('answers PACS_UNAVAILABLE when the connection breaks in the middle of a retrieval', async () => {
    const proxy = new PausableProxy('127.0.0.1', orthanc.port);
    const port = await proxy.start();
    try {
      const client = new DicomWebClient({ url: `http://127.0.0.1:${port}/dicom-web` });
      const instances = client.retrieveStudy(ct.studyInstanceUid);
      const first = await instances.next();
      expect(first.done).toBe(false);
      await proxy.stop(); // the link is cut after the first of six instances of ~4 MB each
      const rest = (async () => {
        for (;;) if ((await instances.next()).done) return 'completed';
      })();
      await expect(rest).rejects.toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true });
    } finally {
      await proxy.stop();
    }
  });
});

describe('a PACS that stalls', () => {
  it('answers PACS_UNAVAILABLE when nothing arrives for timeoutMs in the middle of a retrieval', async () => {
    const proxy = new PausableProxy('127.0.0.1', orthanc.port);
    const port = await proxy.start();
    try {
      const client = new DicomWebClient({ url: `http://127.0.0.1:${port}/dicom-web`, timeoutMs: 1500 });
      const instances = client.retrieveStudy(ct.studyInstanceUid);
      expect((await instances.next()).done).toBe(false);
      // a consumer slower than timeoutMs (encrypting, uploading) is not a stalled PACS
      await new Promise((r) => setTimeout(r, 3000));
      expect((await instances.next()).done).toBe(false);
      proxy.pause(); // the PACS (or the network) hangs: the connection stays open, no byte crosses
      const rest = (async () => {
        for (;;) if ((await instances.next()).done) return 'completed';
      })();
      await expect(rest).rejects.toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true });
    } finally {
      proxy.resume();
      await proxy.stop();
    }
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
