import { type Sql, raw, sql } from '../sql.js';

/**
 * The SQL form of the eligibility rule (libs/domain/src/eligibility.ts `mayRead`; CredentialRegistry.isEligible on
 * chain): a row `credential` of the credentials table may read a study of `state` and `modality` at chain time
 * `asOf`. Every query that decides eligibility uses this fragment, so there is one SQL spelling of the rule.
 *
 * Inputs are SQL text (a table alias, a column: never input) and the chain time, a value. The fragment only compares a
 * credential's columns with the study's state and modality, so a query keeps driving the studies indexes by
 * (chain_id, status, patient_state, modality) and applies the fragment to the credential it joins, or — as the
 * worklist does — enumerates the (state, modality) combinations the fragment admits and probes the index once per
 * combination.
 */
export interface EligibilityInputs {
  /** alias of a credentials row (columns states, modalities, expires_at, revoked) */
  credential: string;
  /** the study's patient state (USPS code) */
  state: string;
  /** the study's modality code */
  modality: string;
  /** chain time in unix seconds (a parameter) */
  asOf: number;
}

export function eligibleSql({ credential, state, modality, asOf }: EligibilityInputs): Sql {
  const [c, st, m] = [raw(credential), raw(state), raw(modality)];
  return sql`(NOT ${c}.revoked AND ${c}.expires_at > ${asOf} AND ${st} = ANY(${c}.states) AND ${m} = ANY(${c}.modalities))`;
}
