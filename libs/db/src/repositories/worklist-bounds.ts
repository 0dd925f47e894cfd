import type { EntityManager } from 'typeorm';
import { MODALITIES, URGENCIES } from '#domain';

/**
 * Bounty ceilings: what lets the worklist's BOUNTY_DESC page read a few hundred rows instead of computing the
 * bounty of every open study a radiologist is eligible for (tens of thousands; see README, "Bench").
 *
 * The bounty depends on chain time (it grows each whole hour a study waits, up to max_bounty), so it cannot be
 * indexed. What can be indexed is an upper bound: a study's bounty never decreases with time, so its bounty at
 * a future time V bounds it at every time up to V. The indexer's refresher stores, for every open study,
 *
 *   bounty_ceiling = bounty(V) under the current parameters   (NULL when that is max_bounty: then it holds forever)
 *
 * and records in `worklist_bounds` the generation of the parameters (their digest) and V (`valid_until`). While
 * the worklist's chain time is ≤ V and the parameters still have that digest, COALESCE(bounty_ceiling, max_bounty)
 * is ≥ the bounty of every open study, and the worklist can find the top N exactly (StudyRepository.worklist):
 *   1. a lower bound θ: the N-th largest exact bounty among the N highest ceilings of each (state, modality);
 *   2. candidates: the studies whose ceiling is ≥ θ (an index range scan); every study of the true top N is one,
 *      because its bounty ≥ θ and its ceiling ≥ its bounty; exact bounties, sort, first N.
 * Otherwise (parameters changed, refresher behind) the worklist computes every eligible bounty as before.
 *
 * Hazards, and what covers them:
 * - A stale ceiling would hide a study. Only the refresher writes ceilings, and a trigger (migration
 *   WorklistBounds) clears a study's ceiling when it enters OPEN again (an expired lease) or its bounty inputs
 *   change; a new study has none. No ceiling means max_bounty, which bounds the bounty at every time.
 * - Parameters change (governance): the digest no longer matches, so the worklist stops trusting the ceilings at
 *   once (same snapshot: it reads both in one REPEATABLE READ transaction) until a refresh of the new
 *   generation has rewritten every open study.
 * - A refresh is done in chunks (keyset over open studies by study ID), each its own transaction, so indexing
 *   is never blocked for long. Until a refresh completes, `worklist_bounds` still describes the previous one, whose
 *   promise keeps holding: a chunk only raises ceilings (a later V) or writes a generation nobody trusts yet.
 * - Time: V is chain time (the indexed head's block time) plus the horizon; a refresh starts when less than half
 *   the horizon is left. The refresher runs only while the indexer is caught up (a backfill would otherwise
 *   refresh at every half horizon of history).
 */

/** The parameters the bounty formula reads (others, like the fee, do not change any bounty). */
export const BOUNTY_PARAMETER_NAMES = ['baseBounty', 'urgencyMultiplierBps', 'escalationBpsPerHour'];

/** Digest of the bounty parameters of chain $1: the ceilings' generation is trusted only while this is unchanged. */
export const PARAMS_DIGEST_SQL = `(SELECT md5(coalesce(string_agg(ip.name || ':' || ip.key || '=' || ip.value, ',' ORDER BY ip.name, ip.key), ''))
   FROM incentive_parameters ip WHERE ip.chain_id = $1 AND ip.name IN (${BOUNTY_PARAMETER_NAMES.map((n) => `'${n}'`).join(', ')}))`;

/**
 * The bounty formula in SQL: identical integer arithmetic to BountyMath.sol and libs/domain/src/bounty.ts
 * (numeric is exact; div() truncates like uint256 division), over a study `s` and the given parameter expressions.
 * libs/db/src/repositories/study.repository.spec.ts proves SQL and TypeScript agree on random inputs.
 */
export function bountySql(p: { base: string; urgency: string; escalation: string; asOf: string }): string {
  return `LEAST(s.max_bounty,
  div(${p.base} * s.difficulty_bps * ${p.urgency} * (10000 + ${p.escalation} * div(GREATEST(${p.asOf} - s.posted_at, 0), 3600)),
      1000000000000))`;
}

/**
 * A one-row CTE body `p(base, urg, esc)` with chain $1's bounty parameters as arrays in the order of MODALITIES
 * ($modalities) and URGENCIES ($urgencies), so a query computes bounties without joining per row.
 */
export const paramsCte = (modalities: string, urgencies: string) => `SELECT
    ARRAY(SELECT ip.value FROM unnest(${modalities}::text[]) WITH ORDINALITY AS m(name, i)
          LEFT JOIN incentive_parameters ip ON ip.chain_id = $1 AND ip.name = 'baseBounty' AND ip.key = m.i - 1 ORDER BY m.i) AS base,
    ARRAY(SELECT ip.value FROM unnest(${urgencies}::text[]) WITH ORDINALITY AS u(name, i)
          LEFT JOIN incentive_parameters ip ON ip.chain_id = $1 AND ip.name = 'urgencyMultiplierBps' AND ip.key = u.i - 1 ORDER BY u.i) AS urg,
    (SELECT ip.value FROM incentive_parameters ip WHERE ip.chain_id = $1 AND ip.name = 'escalationBpsPerHour' AND ip.key = 0) AS esc`;

/** bountySql over the arrays of paramsCte (a CTE named `p` in scope). */
export const bountyFromParamsSql = (modalities: string, urgencies: string, asOf: string) =>
  bountySql({
    base: `p.base[array_position(${modalities}::text[], s.modality)]`,
    urgency: `p.urg[array_position(${urgencies}::text[], s.urgency)]`,
    escalation: 'p.esc',
    asOf,
  });

/** `ceiling_until` of a study whose ceiling is max_bounty (NULL): it holds at every time. */
const FOREVER = '9223372036854775807';

export interface BoundsRefreshOptions {
  /** how far past the indexed head's time the ceilings must hold (seconds) */
  horizonSeconds: number;
  /** open studies looked at per transaction */
  chunkRows: number;
}

export interface BoundsState {
  gen: number;
  paramsDigest: string | null;
  validUntil: number | null;
  refreshing: boolean;
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
export async function refreshBoundsChunk(tx: EntityManager, chainId: number, now: number, opts: BoundsRefreshOptions): Promise<BoundsChunkResult> {
  const [s] = await tx.query(
    `SELECT b.gen, b.params_digest, b.valid_until, b.refresh_gen, b.refresh_digest, b.refresh_until,
            b.refresh_after_id, ${PARAMS_DIGEST_SQL} AS digest
     FROM (SELECT 1) one LEFT JOIN worklist_bounds b ON b.chain_id = $1`,
    [chainId],
  );
  const result: BoundsChunkResult = { started: false, scanned: 0, updated: 0, completed: false, idle: false };
  let gen: number = s.refresh_gen;
  let until = s.refresh_until === null ? null : Number(s.refresh_until);
  let after: string = s.refresh_after_id ?? '';
  // a refresh under way whose parameters changed meanwhile is restarted with a new generation
  if (until === null || s.refresh_digest !== s.digest) {
    const current = s.gen !== null && s.params_digest === s.digest;
    const due = !current || s.valid_until === null || now > Number(s.valid_until) - opts.horizonSeconds / 2;
    if (until === null && !due) return { ...result, idle: true };
    // a new generation for new parameters, distinct from any an abandoned refresh may have written
    gen = current ? s.gen : Math.max(s.gen ?? 0, s.refresh_gen ?? 0) + 1;
    until = now + opts.horizonSeconds;
    after = '';
    result.started = true;
    // new parameters: the published bounds are withdrawn at once (the chunks will overwrite ceilings of the
    // published generation with ones of parameters it does not describe)
    await tx.query(
      `INSERT INTO worklist_bounds (chain_id, refresh_gen, refresh_digest, refresh_until, refresh_after_id)
       VALUES ($1, $2, $3, $4, NULL)
       ON CONFLICT (chain_id) DO UPDATE SET refresh_gen = EXCLUDED.refresh_gen, refresh_digest = EXCLUDED.refresh_digest,
         refresh_until = EXCLUDED.refresh_until, refresh_after_id = NULL,
         valid_until = CASE WHEN $5 THEN worklist_bounds.valid_until END`,
      [chainId, gen, s.digest, until, current],
    );
  }

  // one chunk: the next open studies by study ID (the primary key's order); those whose ceiling is of another
  // generation or ends before `until` get bounty(until) (NULL and FOREVER once that is max_bounty)
  const [r] = await tx.query(
    `WITH p AS (${paramsCte('$5', '$6')}),
     chunk AS (
       SELECT study_id FROM studies
       WHERE chain_id = $1 AND status = 'OPEN' AND study_id > $4::text
       ORDER BY study_id LIMIT $7
     ), calc AS (
       SELECT s.study_id, s.max_bounty, ${bountyFromParamsSql('$5', '$6', '$3::bigint')} AS b
       FROM studies s JOIN chunk c ON c.study_id = s.study_id CROSS JOIN p
       WHERE s.chain_id = $1 AND (s.ceiling_gen IS DISTINCT FROM $2 OR s.ceiling_until IS NULL OR s.ceiling_until < $3)
     ), u AS (
       UPDATE studies s
       SET bounty_ceiling = CASE WHEN c.b < c.max_bounty THEN c.b END,
           ceiling_until = CASE WHEN c.b < c.max_bounty OR c.b IS NULL THEN $3::bigint ELSE ${FOREVER} END,
           ceiling_gen = $2
       FROM calc c WHERE s.chain_id = $1 AND s.study_id = c.study_id
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM chunk)::int AS scanned, (SELECT count(*) FROM u)::int AS updated,
            (SELECT max(study_id) FROM chunk) AS last_id`,
    [chainId, gen, until, after, MODALITIES, URGENCIES, opts.chunkRows],
  );
  result.scanned = r.scanned;
  result.updated = r.updated;
  if (r.scanned < opts.chunkRows) {
    await tx.query(
      `UPDATE worklist_bounds SET gen = refresh_gen, params_digest = refresh_digest, valid_until = refresh_until, refreshed_at = now(),
         refresh_gen = NULL, refresh_digest = NULL, refresh_until = NULL, refresh_after_id = NULL
       WHERE chain_id = $1`,
      [chainId],
    );
    result.completed = true;
  } else {
    await tx.query(`UPDATE worklist_bounds SET refresh_after_id = $2 WHERE chain_id = $1`, [chainId, r.last_id]);
  }
  return result;
}

/** What the worklist needs to know: may it trust the ceilings at chain time `asOf`? (in the caller's snapshot) */
export const BOUNDS_HOLD_SQL = (asOf: string) =>
  `COALESCE((SELECT wb.valid_until >= ${asOf} AND wb.params_digest = ${PARAMS_DIGEST_SQL} FROM worklist_bounds wb WHERE wb.chain_id = $1), false)`;

export async function boundsState(tx: Pick<EntityManager, 'query'>, chainId: number): Promise<BoundsState | null> {
  const rows = await tx.query(`SELECT gen, params_digest, valid_until, refresh_gen FROM worklist_bounds WHERE chain_id = $1`, [chainId]);
  if (!rows.length) return null;
  const r = rows[0];
  return { gen: r.gen, paramsDigest: r.params_digest, validUntil: r.valid_until === null ? null : Number(r.valid_until), refreshing: r.refresh_gen !== null };
}
