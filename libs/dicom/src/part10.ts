import dcmjs, { type DcmDataset, type DcmElement } from 'dcmjs';

export type { DcmDataset, DcmElement };

/** A DICOM Part-10 instance read into memory: its file meta group (0002) and its data set. */
export interface Part10 {
  meta: DcmDataset;
  dataset: DcmDataset;
}

export const PIXEL_DATA = '7FE00010';

/** An ArrayBuffer holding exactly these bytes (dcmjs reads ArrayBuffers; a Buffer may be a view into a larger pool). */
function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

/** Reads a Part-10 instance; `headersOnly` stops before the pixel data (enough for metadata, far cheaper). */
export function readPart10(bytes: Uint8Array, headersOnly = false): Part10 {
  const dict = dcmjs.data.DicomMessage.readFile(
    arrayBufferOf(bytes),
    headersOnly ? { untilTag: PIXEL_DATA, includeUntilTagValue: false } : { ignoreErrors: false },
  );
  if (headersOnly) delete dict.dict[PIXEL_DATA];
  return { meta: dict.meta, dataset: dict.dict };
}

/** Writes a Part-10 instance (explicit VR little endian unless the meta says otherwise). */
export function writePart10(instance: Part10): Uint8Array {
  const dict = new dcmjs.data.DicomDict(instance.meta);
  dict.dict = instance.dataset;
  return new Uint8Array(dict.write());
}

/** The first value of an element as text ('' if absent); PN gives its alphabetic form. */
export function textOf(dataset: DcmDataset, tag: string): string {
  const v = dataset[tag]?.Value?.[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object' && 'Alphabetic' in (v as object)) return String((v as { Alphabetic?: string }).Alphabetic ?? '');
  return String(v).trim();
}

/** A fresh element (no `_rawValue`: dcmjs would otherwise write the original bytes back when they look equal). */
export const element = (vr: string, value: unknown[] = []): DcmElement => ({ vr, Value: value });
