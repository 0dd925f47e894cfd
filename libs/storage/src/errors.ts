/** A blob store that cannot answer: retryable when the store is unavailable, not when the blob is not there. */
export type StorageErrorCode = 'STORAGE_NOT_FOUND' | 'STORAGE_UNAVAILABLE' | 'STORAGE_REFUSED';

const STORAGE_SENTENCES: Record<StorageErrorCode, string> = {
  STORAGE_NOT_FOUND: 'The stored study data is not there: it was never stored or has been removed.',
  STORAGE_UNAVAILABLE: 'The study storage cannot be reached right now. Try again in a moment.',
  // a remote store (HttpBlobStore) said no: not signed in, not allowed for this study, or the bytes were refused
  STORAGE_REFUSED: 'The study storage refused this request: sign in, or this account may not read or write this study.',
};

export class StorageError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: StorageErrorCode,
    /** for logs: what failed, never data or keys */
    readonly detail?: string,
  ) {
    super(STORAGE_SENTENCES[code]);
    this.retryable = code === 'STORAGE_UNAVAILABLE';
  }
}

/** Why a stored study cannot be read back; chunkIndex names the chunk when one is at fault. */
export type IntegrityReason =
  /** the manifest contradicts itself (sizes, lengths, its own root) or is not one */
  | 'MANIFEST_INVALID'
  /** the manifest's root is not the one expected (recorded on chain) */
  | 'MANIFEST_MISMATCH'
  /** a chunk the manifest lists is not in the store */
  | 'CHUNK_MISSING'
  /** a chunk's bytes are not the ones the manifest names (hash, size or Merkle root differ) */
  | 'CHUNK_CORRUPTED'
  /** a chunk is intact but does not decrypt at its position: reordered, from another study, cut short, or wrong key */
  | 'CHUNK_NOT_AUTHENTIC';

const INTEGRITY_SENTENCES: Record<IntegrityReason, string> = {
  MANIFEST_INVALID: 'The study manifest is not valid.',
  MANIFEST_MISMATCH: 'The study manifest is not the one recorded for this study.',
  CHUNK_MISSING: 'A part of the study is missing from storage.',
  CHUNK_CORRUPTED: 'A part of the study has been altered or substituted in storage.',
  CHUNK_NOT_AUTHENTIC: 'A part of the study does not belong at its place in this study, or the study key is wrong.',
};

export class StudyIntegrityError extends Error {
  constructor(
    readonly reason: IntegrityReason,
    readonly chunkIndex?: number,
  ) {
    super(chunkIndex === undefined ? INTEGRITY_SENTENCES[reason] : `${INTEGRITY_SENTENCES[reason]} (chunk ${chunkIndex})`);
  }
}
