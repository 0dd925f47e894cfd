// dcmjs ships no type declarations: the few parts #dicom uses, as dcmjs 0.51 exposes them.
declare module 'dcmjs' {
  /** One data element as dcmjs holds it: `Value` is a list (strings, numbers, `{ Alphabetic }` for PN, items for SQ, ArrayBuffers for OB/OW). */
  export interface DcmElement {
    vr: string;
    Value?: unknown[];
    _rawValue?: unknown;
  }
  export type DcmDataset = Record<string, DcmElement>;
  export interface DcmReadOptions {
    ignoreErrors?: boolean;
    untilTag?: string | null;
    includeUntilTagValue?: boolean;
    noCopy?: boolean;
    forceStoreRaw?: boolean;
  }
  export class DicomDict {
    constructor(meta: DcmDataset);
    meta: DcmDataset;
    dict: DcmDataset;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }
  export const DicomMessage: { readFile(buffer: ArrayBuffer, options?: DcmReadOptions): DicomDict };
  const dcmjs: { data: { DicomDict: typeof DicomDict; DicomMessage: typeof DicomMessage } };
  export default dcmjs;
}
