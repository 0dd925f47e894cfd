import { type Queryable, type Sql, queryRows, raw, sql } from '../sql.js';

/**
 * Bounty ceilings: what lets the worklist's BOUNTY_DESC page read a few hundred rows instead of computing the
 * bounty of every open study a radiologist is eligible for (tens of thousands; see docs/benchmarks.md).
 *
 * The bounty depends on chain time (it grows each whole hour a study waits, up to max_bounty), so it cannot be
 * indexed. What can be indexed is an upper bound: a study's bounty never decreases with time, so its bounty at
 * a future time V bounds it at every time up to V. The indexer's refresher (apps/indexer/src/store/bounds-refresher.ts) stores, for every open study,
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

/** Digest of the bounty parameters of the chain: the ceilings' generation is trusted only while this is unchanged. */
export const paramsDigestSql = (
  chainId: Sql,
) => sql`(SELECT md5(coalesce(string_agg(ip.name || ':' || ip.key || '=' || ip.value, ',' ORDER BY ip.name, ip.key), ''))
   FROM incentive_parameters ip WHERE ip.chain_id = ${chainId} AND ip.name IN (${raw(BOUNTY_PARAMETER_NAMES.map((n) => `'${n}'`).join(', '))}))`;

/**
 * The bounty formula in SQL: identical integer arithmetic to BountyMath.sol and libs/domain/src/bounty.ts
 * (numeric is exact; div() truncates like uint256 division), over a study `s` and the given parameter expressions.
 * apps/indexer/src/store/study.repository.spec.ts proves SQL and TypeScript agree on random inputs.
 */
export function bountySql(p: { base: Sql; urgency: Sql; escalation: Sql; asOf: Sql }): Sql {
  return sql`LEAST(s.max_bounty,
  div(${p.base} * s.difficulty_bps * ${p.urgency} * (10000 + ${p.escalation} * div(GREATEST(${p.asOf} - s.posted_at, 0), 3600)),
      1000000000000))`;
}

/**
 * A one-row CTE body `p(base, urg, esc)` with the chain's bounty parameters as arrays in the order of MODALITIES
 * and URGENCIES (`modalities`, `urgencies`: text[] expressions of those names), so a query computes bounties
 * without joining per row.
 */
export const paramsCte = (chainId: Sql, modalities: Sql, urgencies: Sql) => sql`SELECT
    ARRAY(SELECT ip.value FROM unnest(${modalities}) WITH ORDINALITY AS m(name, i)
          LEFT JOIN incentive_parameters ip ON ip.chain_id = ${chainId} AND ip.name = 'baseBounty' AND ip.key = m.i - 1 ORDER BY m.i) AS base,
    ARRAY(SELECT ip.value FROM unnest(${urgencies}) WITH ORDINALITY AS u(name, i)
          LEFT JOIN incentive_parameters ip ON ip.chain_id = ${chainId} AND ip.name = 'urgencyMultiplierBps' AND ip.key = u.i - 1 ORDER BY u.i) AS urg,
    (SELECT ip.value FROM incentive_parameters ip WHERE ip.chain_id = ${chainId} AND ip.name = 'escalationBpsPerHour' AND ip.key = 0) AS esc`;

/** bountySql over the arrays of paramsCte (a CTE named `p` in scope). */
export const bountyFromParamsSql = (modalities: Sql, urgencies: Sql, asOf: Sql) =>
  bountySql({
    base: sql`p.base[array_position(${modalities}, s.modality)]`,
    urgency: sql`p.urg[array_position(${urgencies}, s.urgency)]`,
    escalation: raw('p.esc'),
    asOf,
  });

/** `ceiling_until` of a study whose ceiling is max_bounty (NULL): it holds at every time. */
export interface BoundsState {
  gen: number;
  paramsDigest: string | null;
  validUntil: number | null;
  refreshing: boolean;
}

/** What the worklist needs to know: may it trust the ceilings at chain time `asOf`? (in the caller's snapshot) */
export const boundsHoldSql = (chainId: Sql, asOf: Sql) =>
  sql`COALESCE((SELECT wb.valid_until >= ${asOf} AND wb.params_digest = ${paramsDigestSql(chainId)} FROM worklist_bounds wb WHERE wb.chain_id = ${chainId}), false)`;

export async function boundsState(tx: Queryable, chainId: number): Promise<BoundsState | null> {
  const rows = await queryRows<{ gen: number; params_digest: string | null; valid_until: string | null; refresh_gen: number | null }>(
    tx,
    sql`SELECT gen, params_digest, valid_until, refresh_gen FROM worklist_bounds WHERE chain_id = ${chainId}`,
  );
  if (!rows.length) return null;
  const r = rows[0];
  return {
    gen: r.gen,
    paramsDigest: r.params_digest,
    validUntil: r.valid_until === null ? null : Number(r.valid_until),
    refreshing: r.refresh_gen !== null,
  };
}
