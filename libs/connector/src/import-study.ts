import {
  StudyMetadataCollector,
  readPart10,
  textOf,
  type Deidentifier,
  type DicomRefusal,
  type DicomWebClient,
  type StudyMetadata,
} from '#dicom';
import { frameInstances, storeStudy, type BlobStore, type StudyManifest } from '#storage';
import { ConnectorError } from './errors.js';
import { ReidentificationMapBuilder, type FsReidentificationStore, type ReidentificationMap } from './reidentification.js';

export interface ImportOptions {
  /** the marketplace's study ID (the chunks' associated data and the manifest name it) */
  studyId: string;
  /** the study's 32-byte key (chunks are sealed under a key derived from it) */
  studyKey: Buffer;
  store: BlobStore;
  /** the RO's de-identifier (its secret decides the UIDs, the date offset and the pseudonym) */
  deidentifier: Deidentifier;
  /** where the re-identification map is kept on the RO side; without it the caller keeps the returned map itself */
  reidentification?: Pick<FsReidentificationStore, 'save'>;
  /** 'skip' (default): refused instances are left out and counted in `refused`; 'fail': the first one stops the import */
  onRefused?: 'skip' | 'fail';
  /** stored chunk size (default 4 MiB, storeStudy's) */
  chunkBytes?: number;
  /** filled with where the time went (the benchmark's stages) */
  timings?: ImportTimings;
  signal?: AbortSignal;
}

/**
 * Milliseconds per stage of one import, wall clock and CPU time of the process (all its threads: what the stage costs
 * whatever else the machine runs); the stages run one after the other in one thread, so they add up.
 */
export interface ImportTimings {
  /** waiting for the next original instance (the PACS, or the files) */
  readMs: number;
  /** PS3.15 de-identification, the metadata and the map */
  deidentifyMs: number;
  /** framing, encryption, hashing and writing the chunks */
  storeMs: number;
  totalMs: number;
  readCpuMs: number;
  deidentifyCpuMs: number;
  storeCpuMs: number;
  totalCpuMs: number;
  /** original bytes read, de-identified bytes stored */
  bytesIn: number;
  bytesOut: number;
}

export const newImportTimings = (): ImportTimings => ({
  readMs: 0,
  deidentifyMs: 0,
  storeMs: 0,
  totalMs: 0,
  readCpuMs: 0,
  deidentifyCpuMs: 0,
  storeCpuMs: 0,
  totalCpuMs: 0,
  bytesIn: 0,
  bytesOut: 0,
});

/** CPU milliseconds (user + system) of the process since `since` */
const cpuMs = (since?: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

/** A refusal reason and how many instances it left out (no UIDs, no values: it may be shown and logged). */
export interface RefusedInstances extends DicomRefusal {
  count: number;
}

export interface ImportResult {
  /** public: goes to the marketplace with the study (its merkleRoot on chain) */
  manifest: StudyManifest;
  /** public: derived from the de-identified instances */
  metadata: StudyMetadata;
  /** the de-identified StudyInstanceUID (what readers see) */
  deidentifiedStudyUid: string;
  /** RO side only: de-identified UIDs → the originals (saved to `reidentification` when given) */
  reidentification: ReidentificationMap;
  refused: RefusedInstances[];
}

/**
 * The RO connector's pipeline for one study: WADO-RS from the RO's PACS, instance by instance → PS3.15
 * de-identification → framed into one stream → encrypted chunks in the blob store. One original instance and two
 * chunks are in memory at a time, whatever the study's size; the PACS is read only as fast as the store accepts.
 */
export function importStudy(pacs: DicomWebClient, studyInstanceUid: string, options: ImportOptions): Promise<ImportResult> {
  return importInstances(pacs.retrieveStudy(studyInstanceUid, options.signal), studyInstanceUid, options);
}

/** importStudy from any source of the study's Part-10 instances (files, a PACS, a DIMSE receiver). */
export async function importInstances(
  instances: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  originalStudyUid: string,
  options: ImportOptions,
): Promise<ImportResult> {
  const deid = options.deidentifier;
  const deidentifiedStudyUid = deid.studyUidOf(originalStudyUid);
  const collector = new StudyMetadataCollector();
  const map = new ReidentificationMapBuilder(options.studyId, { deidentified: deidentifiedStudyUid, original: originalStudyUid });
  const refused = new Map<string, RefusedInstances>();
  const t = options.timings ?? newImportTimings();
  const onRefused = options.onRefused ?? 'skip';

  async function* shareable(): AsyncGenerator<Buffer> {
    const source = Symbol.asyncIterator in instances ? instances[Symbol.asyncIterator]() : instances[Symbol.iterator]();
    for (;;) {
      const r0 = performance.now();
      const rc = process.cpuUsage();
      const next = await source.next();
      const d0 = performance.now();
      const dc = process.cpuUsage();
      t.readMs += d0 - r0;
      t.readCpuMs += cpuMs(rc);
      if (next.done) return;
      const original = next.value;
      t.bytesIn += original.byteLength;
      // the original UIDs, for the map: the headers only (the de-identifier reads the whole instance itself)
      const headers = readPart10(original, true).dataset;
      if (textOf(headers, '0020000D') !== originalStudyUid) throw new ConnectorError('STUDY_MISMATCH');
      const result = deid.instance(original);
      if (!result.ok) {
        if (onRefused === 'fail') throw new ConnectorError('INSTANCE_REFUSED', result.refusal.reason);
        const key = `${result.refusal.reason}|${result.refusal.sopClassUid ?? ''}`;
        const seen = refused.get(key) ?? { ...result.refusal, count: 0 };
        seen.count++;
        refused.set(key, seen);
        t.deidentifyMs += performance.now() - d0;
        t.deidentifyCpuMs += cpuMs(dc);
        continue;
      }
      if (result.studyInstanceUid !== deidentifiedStudyUid) throw new ConnectorError('STUDY_MISMATCH');
      collector.add(result.bytes);
      map.add(
        { deidentified: result.seriesInstanceUid, original: textOf(headers, '0020000E') },
        { deidentified: result.sopInstanceUid, original: textOf(headers, '00080018'), sopClassUid: textOf(headers, '00080016') },
      );
      t.bytesOut += result.bytes.byteLength;
      t.deidentifyMs += performance.now() - d0;
      t.deidentifyCpuMs += cpuMs(dc);
      yield Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength);
    }
  }

  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const manifest = await storeStudy(frameInstances(shareable()), {
    studyId: options.studyId,
    studyKey: options.studyKey,
    store: options.store,
    ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}),
  });
  t.totalMs += performance.now() - t0;
  t.totalCpuMs += cpuMs(c0);
  t.storeMs = t.totalMs - t.readMs - t.deidentifyMs;
  t.storeCpuMs = t.totalCpuMs - t.readCpuMs - t.deidentifyCpuMs;

  const metadata = collector.result();
  // the chunks already stored are unreferenced then (content-addressed, nothing points at them)
  if (metadata.instanceCount === 0) throw new ConnectorError('NOTHING_SHAREABLE', [...refused.values()].map((r) => r.reason).join(','));
  const reidentification = map.result();
  await options.reidentification?.save(reidentification);
  return { manifest, metadata, deidentifiedStudyUid, reidentification, refused: [...refused.values()] };
}
