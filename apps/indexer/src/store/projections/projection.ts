import type { EntityManager } from 'typeorm';
import { type LeaseBefore, type LedgerLine, type StudyBefore, ledgerLinesOf } from '#domain';
import type { ChainEvent, EventArgValue } from '#db';

/** A ledger line of a batch with the event it comes from (its tx hash, log index, block). */
export interface LedgerRow extends LedgerLine {
  e: ChainEvent;
}

/** Applies one run (events of one kind, each entity at most once) in one set-based statement; collects ledger lines. */
export type Runner = (tx: EntityManager, chainId: number, run: ChainEvent[], ledger: LedgerRow[]) => Promise<void>;

/** One aggregate's projection: the events it projects, the entity each of them writes, and a runner per event. */
export interface Projection {
  events: readonly string[];
  /** the entity key of one of its events (see entityOf in ../projections.ts); absent: its events only append rows */
  entityOf?(e: ChainEvent): string;
  runners: Record<string, Runner>;
  /** deletes the rows of its entities among `keys` (from entityOf) before a rollback replays their remaining events */
  deleteEntities?(tx: EntityManager, chainId: number, keys: string[]): Promise<void>;
}

/** The parts after `kind:` of the keys of that kind. */
export const keyParts = (keys: string[], kind: string) => keys.filter((k) => k.startsWith(`${kind}:`)).map((k) => k.split(':').slice(1));

export const str = (v: EventArgValue) => String(v);
export const num = (v: EventArgValue) => Number(v);

/** One column of a run's values, for `unnest(${col(run, …)}::type[])`. */
export const col = <T>(run: ChainEvent[], f: (e: ChainEvent) => T) => run.map(f);

/** Appends the event's ledger lines (the mapping billing's reconciliation recomputes from the chain: libs/domain ledger.ts). */
export const linesOf = (ledger: LedgerRow[], e: ChainEvent, before?: StudyBefore | LeaseBefore | null) => {
  for (const l of ledgerLinesOf(e, before)) ledger.push({ ...l, e });
};
