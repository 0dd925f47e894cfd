/**
 * Why the RO connector cannot import a study or return a report. Only REIDENTIFICATION_UNAVAILABLE is retryable; the
 * PACS and the blob store raise their own retryable errors (DicomWebError PACS_UNAVAILABLE, StorageError
 * STORAGE_UNAVAILABLE), which pass through unchanged.
 */
export type ConnectorErrorCode =
  /** the PACS returned an instance of another study than the one asked for */
  | 'STUDY_MISMATCH'
  /** every instance of the study was refused by the de-identification (or the study has none) */
  | 'NOTHING_SHAREABLE'
  /** an instance was refused and the import was asked to fail rather than skip it */
  | 'INSTANCE_REFUSED'
  /** no re-identification map for this study on the RO side */
  | 'REIDENTIFICATION_UNKNOWN'
  /** the RO's map store failed or did not answer within its deadline (retryable) */
  | 'REIDENTIFICATION_UNAVAILABLE'
  /** the report is empty or not text */
  | 'REPORT_INVALID';

const SENTENCES: Record<ConnectorErrorCode, string> = {
  STUDY_MISMATCH: 'The PACS returned an instance of another study; nothing of it was stored.',
  NOTHING_SHAREABLE: 'No instance of the study can be shared: each was refused by the de-identification.',
  INSTANCE_REFUSED: 'An instance of the study cannot be de-identified, and the import was set to stop at the first refusal.',
  REIDENTIFICATION_UNKNOWN: 'This RO has no record linking the shared study to its original; it was not exported from here.',
  REIDENTIFICATION_UNAVAILABLE: "The RO's re-identification records cannot be read or written right now; try again.",
  REPORT_INVALID: 'The report is empty.',
};

export class ConnectorError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: ConnectorErrorCode,
    /** for the RO's logs: a closed reason such as a refusal code, never a DICOM value */
    readonly detail?: string,
  ) {
    super(SENTENCES[code]);
    this.name = 'ConnectorError';
    this.retryable = code === 'REIDENTIFICATION_UNAVAILABLE';
  }
}
