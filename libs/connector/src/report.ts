import { randomBytes } from 'node:crypto';
import { DicomWebError, readPart10, textOf, writePart10, type DicomJson, type DicomWebClient, type Part10 } from '#dicom';
import { ConnectorError } from './errors.js';
import type { ReidentificationMap } from './reidentification.js';

export const BASIC_TEXT_SR = '1.2.840.10008.5.1.4.1.1.88.11';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/** OpenRead's implementation class UID in the file meta (a 2.25 UUID-derived root, fixed) */
const IMPLEMENTATION_CLASS_UID = '2.25.211490537839021316391236468497316410201';

export interface ReportToReturn {
  /** the RO's original StudyInstanceUID (from the re-identification map: `reidentification.study.original`) */
  originalStudyUid: string;
  /** the radiologist's report, as submitted (its hash is what the chain holds) */
  reportText: string;
  /** the study's map: the SR then lists every original instance it reports on (its evidence) */
  reidentification?: ReidentificationMap;
  /** the document title's meaning; default LOINC 18748-4 "Diagnostic imaging report" */
  title?: string;
  /** when the report was written; default now */
  at?: Date;
}

export interface ReturnedReport {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
}

const el = (vr: string, value: unknown[] = []) => ({ vr, Value: value });
const code = (value: string, scheme: string, meaning: string) => ({
  '00080100': el('SH', [value]),
  '00080102': el('SH', [scheme]),
  '00080104': el('LO', [meaning]),
});
const newUid = () => `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
const first = (json: DicomJson, tag: string): unknown => json[tag]?.Value?.[0];
const copied = (json: DicomJson, tag: string, vr: string) => {
  const v = first(json, tag);
  return el(vr, v === undefined || v === null ? [] : [v]);
};

/**
 * A DICOM Basic Text SR of the report, in the original study: the patient and study attributes are the PACS's own
 * (QIDO-RS answer for the original study, RO side), the series and instance UIDs are new. Text in UTF-8.
 */
export function buildBasicTextSr(report: ReportToReturn, original: DicomJson): { bytes: Uint8Array; uids: ReturnedReport } {
  if (!report.reportText.trim()) throw new ConnectorError('REPORT_INVALID');
  const at = report.at ?? new Date();
  const iso = at.toISOString();
  const date = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 19).replaceAll(':', '');
  const uids: ReturnedReport = { studyInstanceUid: report.originalStudyUid, seriesInstanceUid: newUid(), sopInstanceUid: newUid() };
  const evidence: Part10['dataset'] = report.reidentification
    ? {
        '0040A375': el('SQ', [
          {
            '0020000D': el('UI', [report.originalStudyUid]),
            '00081115': el(
              'SQ',
              report.reidentification.series.map((s) => ({
                '0020000E': el('UI', [s.original]),
                '00081199': el(
                  'SQ',
                  s.instances.map((i) => ({ '00081150': el('UI', [i.sopClassUid]), '00081155': el('UI', [i.original]) })),
                ),
              })),
            ),
          },
        ]),
      }
    : {};
  const dataset: Part10['dataset'] = {
    '00080005': el('CS', ['ISO_IR 192']),
    '00080016': el('UI', [BASIC_TEXT_SR]),
    '00080018': el('UI', [uids.sopInstanceUid]),
    '00080020': copied(original, '00080020', 'DA'),
    '00080023': el('DA', [date]),
    '00080030': copied(original, '00080030', 'TM'),
    '00080033': el('TM', [time]),
    '00080050': copied(original, '00080050', 'SH'),
    '00080060': el('CS', ['SR']),
    '00080070': el('LO', ['OpenRead']),
    '00080090': copied(original, '00080090', 'PN'),
    '0008103E': el('LO', ['OpenRead report']),
    '00081111': el('SQ', []),
    '00100010': copied(original, '00100010', 'PN'),
    '00100020': copied(original, '00100020', 'LO'),
    '00100030': copied(original, '00100030', 'DA'),
    '00100040': copied(original, '00100040', 'CS'),
    '0020000D': el('UI', [uids.studyInstanceUid]),
    '0020000E': el('UI', [uids.seriesInstanceUid]),
    '00200010': copied(original, '00200010', 'SH'),
    '00200011': el('IS', [9901]),
    '00200013': el('IS', [1]),
    '0040A040': el('CS', ['CONTAINER']),
    '0040A043': el('SQ', [code('18748-4', 'LN', report.title ?? 'Diagnostic imaging report')]),
    '0040A050': el('CS', ['SEPARATE']),
    '0040A372': el('SQ', []),
    ...evidence,
    '0040A491': el('CS', ['COMPLETE']),
    // the radiologist signed it on the marketplace, not in this PACS: no verifying observer here
    '0040A493': el('CS', ['UNVERIFIED']),
    '0040A730': el('SQ', [
      {
        '0040A010': el('CS', ['CONTAINS']),
        '0040A040': el('CS', ['TEXT']),
        '0040A043': el('SQ', [code('121071', 'DCM', 'Finding')]),
        '0040A160': el('UT', [report.reportText]),
      },
    ]),
  };
  const meta = {
    '00020001': el('OB', [new Uint8Array([0, 1]).buffer]),
    '00020002': el('UI', [BASIC_TEXT_SR]),
    '00020003': el('UI', [uids.sopInstanceUid]),
    '00020010': el('UI', [EXPLICIT_LE]),
    '00020012': el('UI', [IMPLEMENTATION_CLASS_UID]),
    '00020013': el('SH', ['OPENREAD']),
  };
  return { bytes: writePart10({ meta, dataset }), uids };
}

/** The report text of an SR written by buildBasicTextSr (or any SR whose first content item is TEXT). */
export function reportTextOf(sr: Uint8Array): string {
  const { dataset } = readPart10(sr);
  const item = dataset['0040A730']?.Value?.[0] as Record<string, { Value?: unknown[] }> | undefined;
  const text = item ? String(item['0040A160']?.Value?.[0] ?? '') : textOf(dataset, '0040A160');
  // dcmjs 0.51 decodes text inside sequence items as Latin-1 whatever the data set's character set says: undo that
  // for UTF-8 data sets (each Latin-1 character is one original byte, so the bytes come back exactly)
  const utf8 = (dataset['00080005']?.Value ?? []).some((v) => String(v).trim() === 'ISO_IR 192');
  return utf8 && item && [...text].every((c) => c.charCodeAt(0) < 256) ? Buffer.from(text, 'latin1').toString('utf8') : text;
}

/**
 * Returns a radiologist's report to the RO's PACS: finds the original study there (QIDO-RS), builds a Basic Text
 * SR in it and stores it over STOW-RS. Runs on the RO side: the original study's identity comes from the RO's own
 * re-identification map and PACS and goes only back into that PACS.
 */
export async function returnReport(pacs: DicomWebClient, report: ReportToReturn): Promise<ReturnedReport> {
  const [study] = await pacs.findStudies({ StudyInstanceUID: report.originalStudyUid });
  if (!study) throw new DicomWebError('PACS_NOT_FOUND', 'The PACS no longer has the original study of this report.');
  const { bytes, uids } = buildBasicTextSr(report, study.attributes);
  const stored = await pacs.storeInstances([bytes], report.originalStudyUid);
  if (!stored.includes(uids.sopInstanceUid)) throw new DicomWebError('PACS_REFUSED', 'The PACS did not confirm the stored report.');
  return uids;
}
