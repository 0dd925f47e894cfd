import type { EntityManager } from 'typeorm';
import type { ChainEvent } from '#db';
import { credentialsProjection } from './projections/credentials.projection.js';
import { exchangeProjection } from './projections/exchange.projection.js';
import { governanceProposalsProjection, votingPowerProjection } from './projections/governance.projection.js';
import { insertLedgerRows, ledgerProjection } from './projections/ledger.projection.js';
import { attributeProposals, parametersProjection } from './projections/parameters.projection.js';
import type { LedgerRow, Projection, Runner } from './projections/projection.js';
import { rolesProjection } from './projections/roles.projection.js';
import { studiesProjection } from './projections/studies.projection.js';

export { CREDENTIAL_EVENTS } from './projections/credentials.projection.js';
export { EXCHANGE_EVENTS } from './projections/exchange.projection.js';
export { GOVERNANCE_EVENTS, VOTING_POWER_EVENTS } from './projections/governance.projection.js';
export { PARAMETER_EVENTS } from './projections/parameters.projection.js';
export { ROLE_EVENTS } from './projections/roles.projection.js';
export { STUDY_EVENTS } from './projections/studies.projection.js';

/**
 * The dispatcher of the projections (one file per aggregate in projections/: studies, credentials, incentive parameters and their history, ledger, governance proposals
 * and votes, members' voting power, contract roles, the imaging exchange) as a function of the event sequence,
 * set-based: a batch of events is grouped into runs of one kind that touch distinct entities (runsOf), and each
 * run is one SQL statement over arrays (unnest). Applying a run at once is the same as applying its events one
 * by one, because no event of a run reads what another one writes.
 * Ledger rows are collected and inserted at the end (nothing in a batch reads them); they belong to new events
 * only, so a conflict there is an error, never silently skipped.
 *
 * Every projected row is a function of its own entity's events only (a study of its study's events, a
 * credential of its radiologist's, a parameter of its name/key's, a proposal (with its votes) of its proposal's,
 * a member's voting power of its DelegateVotesChanged, a role grant of that contract/role/account's grants and
 * revocations), which is what lets a reorg roll back by deleting the touched entities and replaying their
 * remaining events (EventStore.rollback). Two rows are per event instead, and a rollback deletes them by block:
 * ledger rows and parameter_changes (the history). The one cross-entity write, a parameter change's proposal
 * (set by the ProposalExecuted of the same transaction), runs after all runs of a batch (attributeProposals),
 * and both of its rows are in the same block, so they are removed and replayed together.
 */

/** Every projection, one per aggregate (projections/*.projection.ts); an event belongs to at most one. */
const PROJECTIONS: Projection[] = [
  studiesProjection,
  credentialsProjection,
  parametersProjection,
  governanceProposalsProjection,
  votingPowerProjection,
  rolesProjection,
  exchangeProjection,
  ledgerProjection,
];

const PROJECTION_OF = new Map<string, Projection>(PROJECTIONS.flatMap((p) => p.events.map((name): [string, Projection] => [name, p])));
const RUNNERS = new Map<string, Runner>(PROJECTIONS.flatMap((p) => Object.entries(p.runners)));
// an event kind projected twice, or listed without a runner (or the reverse), is a mistake caught at start
for (const p of PROJECTIONS)
  for (const name of new Set([...p.events, ...Object.keys(p.runners)]))
    if (PROJECTION_OF.get(name) !== p || !p.runners[name])
      throw new Error(`projection of ${name}: listed once, with its runner, in one projection`);

/** Low-volume kinds that a rollback replays by entity key (see EventStore.rollback and deleteEntities). */
export const REPLAYED_BY_ENTITY = [governanceProposalsProjection, votingPowerProjection, rolesProjection, exchangeProjection].flatMap(
  (p) => [...p.events],
);

/** The entity an event's projection writes (null: it only appends ledger rows, or nothing). Keys never contain ':' inside a part. */
export function entityOf(e: ChainEvent): string | null {
  return PROJECTION_OF.get(e.name)?.entityOf?.(e) ?? null;
}

/** Deletes the rows of low-volume entities (keys from entityOf) before a rollback replays their remaining events. */
export async function deleteEntities(tx: EntityManager, chainId: number, keys: string[]): Promise<void> {
  for (const p of PROJECTIONS) await p.deleteEntities?.(tx, chainId, keys);
}

/**
 * Groups events (in chain order) for set-based application. Projections of different entities are independent
 * (no event reads another entity's rows; ledger rows are only appended), so only the order of each entity's own
 * events matters: wave k holds every entity's k-th event of the batch (events without an entity go to wave 0),
 * and inside a wave the events of one kind form one run, each entity at most once.
 */
export function runsOf(events: ChainEvent[]): ChainEvent[][] {
  const seen = new Map<string, number>();
  const waves: Map<string, ChainEvent[]>[] = [];
  for (const e of events) {
    const key = entityOf(e);
    let wave = 0;
    if (key !== null) {
      wave = seen.get(key) ?? 0;
      seen.set(key, wave + 1);
    }
    const byName = (waves[wave] ??= new Map());
    const run = byName.get(e.name);
    if (run) run.push(e);
    else byName.set(e.name, [e]);
  }
  return waves.flatMap((w) => [...w.values()]);
}

/** Applies events (in chain order) to the projections. Events of kinds with no projection are ignored. */
export async function applyEvents(
  tx: EntityManager,
  chainId: number,
  events: ChainEvent[],
  opts: { ledger?: boolean } = {},
): Promise<void> {
  const ledger: LedgerRow[] = [];
  for (const run of runsOf(events)) {
    const runner = RUNNERS.get(run[0].name);
    if (runner) await runner(tx, chainId, run, ledger); // others (TreasuryUpdated, ArbiterUpdated, …) live in chain_events only
  }
  await attributeProposals(tx, chainId, events);
  if (ledger.length === 0 || opts.ledger === false) return;
  await insertLedgerRows(tx, chainId, ledger);
}
