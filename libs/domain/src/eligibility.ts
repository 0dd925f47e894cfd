import { MODALITIES, US_STATES, fromMask } from './codes.js';

/**
 * Who may read which study: the one rule. CredentialRegistry.isEligible enforces it at claim (chain time), the
 * worklist, the claim pre-check and the live feed apply its SQL form (libs/db eligibility.ts, `eligibleSql`), and
 * test/eligibility-agreement.e2e.test.ts checks on generated cases that the three agree.
 */
export interface CredentialTerms {
  /** USPS codes of the states the radiologist is licensed in */
  states: readonly string[];
  /** modality codes the radiologist is credentialed for */
  modalities: readonly string[];
  /** unix seconds; the credential counts while expiresAt > asOf (0: never attested) */
  expiresAt: number;
  revoked: boolean;
}

export interface StudyTerms {
  patientState: string;
  modality: string;
}

/** Whether a radiologist holding `credential` (none: null) may claim `study` at chain time `asOf`. */
export function mayRead(credential: CredentialTerms | null | undefined, study: StudyTerms, asOf: number): boolean {
  return (
    !!credential &&
    !credential.revoked &&
    credential.expiresAt > asOf &&
    credential.states.includes(study.patientState) &&
    credential.modalities.includes(study.modality)
  );
}

/** The on-chain form of a credential (CredentialRegistry.Credential: bit masks over US_STATES and MODALITIES). */
export function credentialFromMasks(c: {
  statesMask: bigint;
  modalitiesMask: bigint;
  expiresAt: number | bigint;
  revoked: boolean;
}): CredentialTerms {
  return {
    states: fromMask(US_STATES, c.statesMask),
    modalities: fromMask(MODALITIES, c.modalitiesMask),
    expiresAt: Number(c.expiresAt),
    revoked: c.revoked,
  };
}
