import { readPart10, textOf } from './part10.js';

/** What the marketplace shows about a study, derived from its de-identified DICOM (never typed by hand). */
export interface StudyMetadata {
  /** the marketplace modality (XR, CT, MR, US, MG, NM, PET) of most bytes of the study; undefined if none maps */
  modality: string | undefined;
  /** every DICOM Modality value present (CT, MR, SR …), sorted */
  dicomModalities: string[];
  /** BodyPartExamined of most bytes (e.g. CHEST, HEAD), upper case; undefined if no instance says */
  bodyPart: string | undefined;
  seriesCount: number;
  instanceCount: number;
  /** total bytes of the de-identified Part-10 instances */
  byteSize: number;
}

/** DICOM modality (0008,0060) → the marketplace's modality (#domain MODALITIES). */
export const MARKETPLACE_MODALITY: Readonly<Record<string, string>> = {
  CR: 'XR',
  DX: 'XR',
  RG: 'XR',
  XA: 'XR',
  RF: 'XR',
  CT: 'CT',
  MR: 'MR',
  US: 'US',
  MG: 'MG',
  NM: 'NM',
  PT: 'PET',
};

/**
 * Accumulates the metadata over a study's de-identified instances as they stream past (headers only: it reads up to
 * the pixel data and keeps counters, never the instances).
 */
export class StudyMetadataCollector {
  private readonly series = new Set<string>();
  private readonly modalities = new Map<string, number>();
  private readonly bodyParts = new Map<string, number>();
  private instances = 0;
  private bytes = 0;

  add(deidentified: Uint8Array): void {
    const { dataset } = readPart10(deidentified, true);
    this.instances++;
    this.bytes += deidentified.byteLength;
    this.series.add(textOf(dataset, '0020000E'));
    const modality = textOf(dataset, '00080060').toUpperCase();
    if (modality) this.modalities.set(modality, (this.modalities.get(modality) ?? 0) + deidentified.byteLength);
    const bodyPart = textOf(dataset, '00180015').toUpperCase();
    if (bodyPart) this.bodyParts.set(bodyPart, (this.bodyParts.get(bodyPart) ?? 0) + deidentified.byteLength);
  }

  result(): StudyMetadata {
    const mapped = new Map<string, number>();
    for (const [m, bytes] of this.modalities) {
      const market = MARKETPLACE_MODALITY[m];
      if (market) mapped.set(market, (mapped.get(market) ?? 0) + bytes);
    }
    return {
      modality: largest(mapped),
      dicomModalities: [...this.modalities.keys()].sort(),
      bodyPart: largest(this.bodyParts),
      seriesCount: this.series.size,
      instanceCount: this.instances,
      byteSize: this.bytes,
    };
  }
}

const largest = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
