import type { EntityManager } from 'typeorm';
import { MODALITIES, URGENCIES } from '#domain';
import { bountyFromParamsSql, execute, paramsCte, paramsDigestSql, queryRows, raw, sql } from '#db';

// The indexer's bounty-ceiling refresher: how and why, see libs/db/src/studies/worklist-bounds.ts (the
// worklist reads the ceilings; only the indexer writes them).

const FOREVER = raw('9223372036854775807');

/** The row of worklist_bounds (or nulls before the first refresh) with the current parameters' digest. */
interface BoundsDbRow {
  gen: number | null;
  params_digest: string | null;
  valid_until: string | null;
  refresh_gen: number | null;
  refresh_digest: string | null;
  refresh_until: string | null;
  refresh_after_id: string | null;
  digest: string;
}

export interface BoundsRefreshOptions {
  /** how far past the indexed head's time the ceilings must hold (seconds) */
  horizonSeconds: number;
  /** open studies looked at per transaction */
  chunkRows: number;
}

export interface BoundsChunkResult {
  /** a refresh was started by this call */
  started: boolean;
  /** open studies looked at and rewritten by this chunk */
  scanned: number;
  updated: number;
  /** the refresh completed: worklist_bounds now promises its horizon */
  completed: boolean;
  /** nothing to do: the bounds hold for more than half the horizon and the parameters are unchanged */
  idle: boolean;
}

/**
 * One step of the refresher, in the caller's transaction (the indexer's writer): starts a refresh when one is
 * due, then rewrites one chunk of open studies; the last chunk publishes the new bounds.
 */
export async function refreshBoundsChunk(
  tx: EntityManager,
  chainId: number,
  now: number,
  opts: BoundsRefreshOptions,
): Promise<BoundsChunkResult> {
  const [s] = await queryRows<BoundsDbRow>(
    tx,
    sql`SELECT b.gen, b.params_digest, b.valid_until, b.refresh_gen, b.refresh_digest, b.refresh_until,
            b.refresh_after_id, ${paramsDigestSql(sql`${chainId}`)} AS digest
     FROM (SELECT 1) one LEFT JOIN worklist_bounds b ON b.chain_id = ${chainId}`,
  );
  const result: BoundsChunkResult = { started: false, scanned: 0, updated: 0, completed: false, idle: false };
  let gen = s.refresh_gen;
  let until = s.refresh_until === null ? null : Number(s.refresh_until);
  let after: string = s.refresh_after_id ?? '';
  // a refresh under way whose parameters changed meanwhile is restarted with a new generation
  if (until === null || s.refresh_digest !== s.digest) {
    const current = s.gen !== null && s.params_digest === s.digest;
    const due = !current || s.valid_until === null || now > Number(s.valid_until) - opts.horizonSeconds / 2;
    if (until === null && !due) return { ...result, idle: true };
    // a new generation for new parameters, distinct from any an abandoned refresh may have written
    gen = current && s.gen !== null ? s.gen : Math.max(s.gen ?? 0, s.refresh_gen ?? 0) + 1;
    until = now + opts.horizonSeconds;
    after = '';
    result.started = true;
    // new parameters: the published bounds are withdrawn at once (the chunks will overwrite ceilings of the
    // published generation with ones of parameters it does not describe)
    await execute(
      tx,
      sql`INSERT INTO worklist_bounds (chain_id, refresh_gen, refresh_digest, refresh_until, refresh_after_id)
       VALUES (${chainId}, ${gen}, ${s.digest}, ${until}, NULL)
       ON CONFLICT (chain_id) DO UPDATE SET refresh_gen = EXCLUDED.refresh_gen, refresh_digest = EXCLUDED.refresh_digest,
         refresh_until = EXCLUDED.refresh_until, refresh_after_id = NULL,
         valid_until = CASE WHEN ${current} THEN worklist_bounds.valid_until END`,
    );
  }

  // one chunk: the next open studies by study ID (the primary key's order); those whose ceiling is of another
  // generation or ends before `until` get bounty(until) (NULL and FOREVER once that is max_bounty)
  const [modalityNames, urgencyNames, untilTime] = [sql`${MODALITIES}::text[]`, sql`${URGENCIES}::text[]`, sql`${until}::bigint`];
  const [r] = await queryRows<{ scanned: number; updated: number; last_id: string | null }>(
    tx,
    sql`WITH p AS (${paramsCte(sql`${chainId}`, modalityNames, urgencyNames)}),
     chunk AS (
       SELECT study_id FROM studies
       WHERE chain_id = ${chainId} AND status = 'OPEN' AND study_id > ${after}::text
       ORDER BY study_id LIMIT ${opts.chunkRows}
     ), calc AS (
       SELECT s.study_id, s.max_bounty, ${bountyFromParamsSql(modalityNames, urgencyNames, untilTime)} AS b
       FROM studies s JOIN chunk c ON c.study_id = s.study_id CROSS JOIN p
       WHERE s.chain_id = ${chainId} AND (s.ceiling_gen IS DISTINCT FROM ${gen} OR s.ceiling_until IS NULL OR s.ceiling_until < ${until})
     ), u AS (
       UPDATE studies s
       SET bounty_ceiling = CASE WHEN c.b < c.max_bounty THEN c.b END,
           ceiling_until = CASE WHEN c.b < c.max_bounty OR c.b IS NULL THEN ${untilTime} ELSE ${FOREVER} END,
           ceiling_gen = ${gen}
       FROM calc c WHERE s.chain_id = ${chainId} AND s.study_id = c.study_id
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM chunk)::int AS scanned, (SELECT count(*) FROM u)::int AS updated,
            (SELECT max(study_id) FROM chunk) AS last_id`,
  );
  result.scanned = r.scanned;
  result.updated = r.updated;
  if (r.scanned < opts.chunkRows) {
    await execute(
      tx,
      sql`UPDATE worklist_bounds SET gen = refresh_gen, params_digest = refresh_digest, valid_until = refresh_until, refreshed_at = now(),
         refresh_gen = NULL, refresh_digest = NULL, refresh_until = NULL, refresh_after_id = NULL
       WHERE chain_id = ${chainId}`,
    );
    result.completed = true;
  } else {
    await execute(tx, sql`UPDATE worklist_bounds SET refresh_after_id = ${r.last_id} WHERE chain_id = ${chainId}`);
  }
  return result;
}
