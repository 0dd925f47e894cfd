import { MODALITIES, US_STATES, fromMask } from '#domain';
import { execute, sql } from '#db';
import { type Projection, col, num, str } from './projection.js';

/** The `credentials` table: one row per radiologist, a function of that radiologist's attestations and revocations. */
export const CREDENTIAL_EVENTS = ['CredentialAttested', 'CredentialRevoked'];

export const credentialsProjection: Projection = {
  events: CREDENTIAL_EVENTS,
  entityOf: (e) => `credential:${e.args.radiologist}`,
  runners: {
    async CredentialAttested(tx, chainId, run) {
      const [radiologist, states, modalities, expiresAt, verifier, block] = [
        col(run, (e) => str(e.args.radiologist)),
        col(run, (e) => fromMask(US_STATES, BigInt(str(e.args.statesMask))).join(',')),
        col(run, (e) => fromMask(MODALITIES, BigInt(str(e.args.modalitiesMask))).join(',')),
        col(run, (e) => num(e.args.expiresAt)),
        col(run, (e) => str(e.args.verifier)),
        col(run, (e) => e.blockNumber),
      ];
      await execute(
        tx,
        sql`INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block)
       SELECT ${chainId}::int, v.radiologist, string_to_array(v.states, ','), string_to_array(v.modalities, ','), v.expires_at, false, v.verifier, v.block
       FROM (SELECT unnest(${radiologist}::text[]) AS radiologist, unnest(${states}::text[]) AS states, unnest(${modalities}::text[]) AS modalities, unnest(${expiresAt}::bigint[]) AS expires_at, unnest(${verifier}::text[]) AS verifier, unnest(${block}::bigint[]) AS block) AS v
       ON CONFLICT ON CONSTRAINT credentials_pk DO UPDATE
         SET states = EXCLUDED.states, modalities = EXCLUDED.modalities, expires_at = EXCLUDED.expires_at,
             revoked = false, verifier = EXCLUDED.verifier, updated_block = EXCLUDED.updated_block`,
      );
    },

    async CredentialRevoked(tx, chainId, run) {
      const [radiologist, verifier, block] = [
        col(run, (e) => str(e.args.radiologist)),
        col(run, (e) => str(e.args.verifier)),
        col(run, (e) => e.blockNumber),
      ];
      await execute(
        tx,
        sql`UPDATE credentials c SET revoked = true, verifier = v.verifier, updated_block = v.block
       FROM (SELECT unnest(${radiologist}::text[]) AS radiologist, unnest(${verifier}::text[]) AS verifier, unnest(${block}::bigint[]) AS block) AS v
       WHERE c.chain_id = ${chainId} AND c.radiologist = v.radiologist`,
      );
    },
  },
};
