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

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';

/**
 * Writes a Part-10 instance (explicit VR little endian unless the meta says otherwise).
 *
 * Native (not encapsulated) pixel data in a little-endian transfer syntax is appended as one copy after dcmjs has
 * written everything before it: dcmjs 0.51 writes a value through many small buffers, which made the pixel data of
 * a multi-frame instance (10 MB and more) most of the de-identification's time. The bytes are the same as dcmjs's
 * (part10.spec.ts compares them); anything else (an odd length, attributes after the pixel data, big endian,
 * encapsulated frames) is written by dcmjs alone. `viaDcmjs` forces that path.
 */
export function writePart10(instance: Part10, options: { viaDcmjs?: boolean } = {}): Uint8Array {
  const pixels = options.viaDcmjs ? undefined : nativePixelData(instance);
  const dict = new dcmjs.data.DicomDict(instance.meta);
  if (!pixels) {
    dict.dict = instance.dataset;
    return new Uint8Array(dict.write());
  }
  const { [PIXEL_DATA]: _pixelData, ...rest } = instance.dataset;
  dict.dict = rest;
  const head = new Uint8Array(dict.write());
  const explicit = pixels.syntax === EXPLICIT_LE;
  const header = Buffer.alloc(explicit ? 12 : 8);
  header.writeUInt16LE(0x7fe0, 0);
  header.writeUInt16LE(0x0010, 2);
  if (explicit) {
    header.write(pixels.vr, 4, 'latin1');
    header.writeUInt32LE(pixels.bytes.byteLength, 8); // bytes 6-7 stay 0 (reserved)
  } else {
    header.writeUInt32LE(pixels.bytes.byteLength, 4);
  }
  const out = new Uint8Array(head.byteLength + header.length + pixels.bytes.byteLength);
  out.set(head, 0);
  out.set(header, head.byteLength);
  out.set(pixels.bytes, head.byteLength + header.length);
  return out;
}

/** The pixel data when it can be appended as is: native, one even-length value, last, in a little-endian syntax. */
function nativePixelData(instance: Part10): { vr: string; bytes: Uint8Array; syntax: string } | undefined {
  const el = instance.dataset[PIXEL_DATA];
  const syntax = String(instance.meta['00020010']?.Value?.[0] ?? '')
    .replace(/\0/g, '')
    .trim();
  if (!el || (syntax !== EXPLICIT_LE && syntax !== IMPLICIT_LE)) return undefined;
  if ((el.vr !== 'OW' && el.vr !== 'OB') || el.Value?.length !== 1) return undefined;
  const v = el.Value[0];
  const bytes =
    v instanceof ArrayBuffer ? new Uint8Array(v) : ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : undefined;
  if (!bytes || bytes.byteLength % 2 !== 0 || bytes.byteLength > 0xfffffffe) return undefined;
  if (Object.keys(instance.dataset).some((tag) => tag.toUpperCase() > PIXEL_DATA)) return undefined;
  return { vr: el.vr, bytes, syntax };
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
