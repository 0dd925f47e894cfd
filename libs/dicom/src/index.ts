export * from './deidentify.js';
export * from './dicomweb.js';
export * from './metadata.js';
export { readPart10, writePart10, textOf, type Part10 } from './part10.js';
export { multipartParts, boundaryOf, type MultipartPart } from './multipart.js';
export {
  BASIC_PROFILE,
  CLEANABLE_SOP_CLASSES,
  PROFILE_RESOLUTION,
  REFUSAL_SENTENCES,
  REFUSED_SOP_CLASSES,
  type Action,
  type ProfileCode,
  type ProfileEntry,
  type RefusalReason,
} from './profile.js';
