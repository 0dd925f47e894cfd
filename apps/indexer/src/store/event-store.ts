import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import {
  type BlockHeader,
  type ChainEvent,
  type Checkpoint,
  type OutboxMessage,
  armLockSession,
  execute,
  queryRows,
  readCheckpoint,
  sql,
} from '#db';
import { copyRows } from './copy.js';
import { type BoundsChunkResult, type BoundsRefreshOptions, refreshBoundsChunk } from './bounds-refresher.js';
import {
  CREDENTIAL_EVENTS,
  PARAMETER_EVENTS,
  REPLAYED_BY_ENTITY,
  STUDY_EVENTS,
  applyEvents,
  deleteEntities,
  entityOf,
} from './projections.js';

/** Thrown by a write through a connection that does not hold the indexer's writer lock. */
export class NotWriterError extends Error {}

/** The key of the single-writer advisory lock of one chain/stream (pg_try_advisory_lock(int, int)). */
const LOCK_NAMESPACE = 0x4f52_4958; // "ORIX"

export const messageIdOf = (chainId: number, e: Pick<ChainEvent, 'blockHash' | 'txHash' | 'logIndex'>, removed = false) =>
  `${chainId}:${e.blockHash}:${e.txHash}:${e.logIndex}${removed ? ':removed' : ''}`;

/** Locks the chain's bus cursor row (creating it) and returns the last acknowledged event ID. */
async function lockCursor(tx: EntityManager, chainId: number): Promise<string> {
  await queryRows(tx, sql`INSERT INTO bus_cursor (chain_id) VALUES (${chainId}) ON CONFLICT (chain_id) DO NOTHING`);
  const [{ last }] = await queryRows<{ last: string }>(
    tx,
    sql`SELECT last_event_id AS last FROM bus_cursor WHERE chain_id = ${chainId} FOR UPDATE`,
  );
  return String(last);
}

/** A row of chain_events (the columns an event is rebuilt from; `id` where the query selects it). */
interface ChainEventDbRow {
  id: string;
  block_number: string;
  block_hash: string;
  block_time: string;
  tx_hash: string;
  log_index: number;
  contract: string;
  name: string;
  args: ChainEvent['args'];
}

function toEvent(r: Omit<ChainEventDbRow, 'id'>): ChainEvent {
  return {
    blockNumber: Number(r.block_number),
    blockHash: r.block_hash,
    blockTime: Number(r.block_time),
    txHash: r.tx_hash,
    logIndex: Number(r.log_index),
    contract: r.contract,
    name: r.name,
    args: r.args,
  };
}

/**
 * The indexer's store stage. Reads go through the pool; every write goes through a {@link StoreWriter}, which
 * holds the chain/stream's advisory lock on its own connection (one writer per database, whatever the number
 * of indexer processes) and checks it inside each transaction.
 */
@Injectable()
export class EventStore {
  constructor(private readonly db: DataSource) {}

  async checkpoint(chainId: number, stream: string): Promise<Checkpoint | null> {
    return readCheckpoint(this.db, chainId, stream);
  }

  /** Stored headers in [from, to], newest first. */
  async blocks(chainId: number, stream: string, from: number, to: number): Promise<BlockHeader[]> {
    const rows = await queryRows<{ block_number: string; block_hash: string; parent_hash: string; block_time: string }>(
      this.db,
      sql`SELECT block_number, block_hash, parent_hash, block_time FROM indexed_blocks
       WHERE chain_id = ${chainId} AND stream = ${stream} AND block_number BETWEEN ${from} AND ${to} ORDER BY block_number DESC`,
    );
    return rows.map((r) => ({
      blockNumber: Number(r.block_number),
      blockHash: r.block_hash,
      parentHash: r.parent_hash,
      blockTime: Number(r.block_time),
    }));
  }

  /**
   * Takes the writer lock of chain/stream on a dedicated connection; null when another process holds it.
   * The lock lives as long as that connection: a writer that dies (even by SIGKILL) releases it at once, one whose
   * host vanishes within ~10 s (armLockSession).
   */
  async tryWriter(chainId: number, stream: string): Promise<StoreWriter | null> {
    const qr = this.db.createQueryRunner();
    await qr.connect();
    try {
      const [{ ok, pid }] = await queryRows<{ ok: boolean; pid: number }>(
        qr,
        sql`SELECT pg_try_advisory_lock(${LOCK_NAMESPACE}::int, hashtext(${`${chainId}:${stream}`})) AS ok, pg_backend_pid() AS pid`,
      );
      if (ok) {
        await armLockSession(qr); // a vanished writer's host releases the lock within ~10 s, not hours
        return new StoreWriter(qr, chainId, stream, pid);
      }
    } catch (e) {
      await qr.release();
      throw e;
    }
    await qr.release();
    return null;
  }

  /**
   * Hands the waiting messages to `deliver` in order — first removal notices, then the events above the bus cursor,
   * by ID (= chain order, written by the single writer) — and records what it reports as acknowledged: notices
   * are deleted, the cursor moves past the acknowledged prefix of events. One transaction, holding the cursor row
   * meanwhile (a rollback waits for it, so it knows exactly which events were published). Returns how many
   * messages were acknowledged and how many were offered.
   */
  async drainOutbox(
    chainId: number,
    limit: number,
    deliver: (messages: OutboxMessage[]) => Promise<Set<string>>,
  ): Promise<{ offered: number; acked: number }> {
    return this.db.transaction(async (tx) => {
      const last = await lockCursor(tx, chainId);
      const notices = await queryRows<{ id: string; payload: ChainEvent }>(
        tx,
        sql`SELECT id, payload FROM outbox WHERE chain_id = ${chainId} ORDER BY id LIMIT ${limit}`,
      );
      const events: ChainEventDbRow[] =
        notices.length < limit
          ? await queryRows<ChainEventDbRow>(
              tx,
              sql`SELECT id, block_number, block_hash, block_time, tx_hash, log_index, contract, name, args FROM chain_events
               WHERE chain_id = ${chainId} AND id > ${last} ORDER BY id LIMIT ${limit - notices.length}`,
            )
          : [];
      const messages: OutboxMessage[] = [
        ...notices.map((n) => ({
          key: `notice:${n.id}`,
          messageId: messageIdOf(chainId, n.payload, true),
          event: { chainId, ...n.payload, removed: true },
        })),
        ...events.map((r) => {
          const e = toEvent(r);
          return { key: `event:${r.id}`, messageId: messageIdOf(chainId, e), event: { chainId, ...e, removed: false } };
        }),
      ];
      if (messages.length === 0) return { offered: 0, acked: 0 };
      const acked = await deliver(messages);
      const ackedNotices = notices.filter((n) => acked.has(`notice:${n.id}`)).map((n) => n.id);
      if (ackedNotices.length) await execute(tx, sql`DELETE FROM outbox WHERE id = ANY(${ackedNotices}::bigint[])`);
      let cursor: string | null = null;
      for (const r of events) {
        if (!acked.has(`event:${r.id}`)) break; // only an unbroken prefix: order is kept
        cursor = r.id;
      }
      if (cursor !== null)
        await execute(tx, sql`UPDATE bus_cursor SET last_event_id = ${cursor}, updated_at = now() WHERE chain_id = ${chainId}`);
      return { offered: messages.length, acked: acked.size };
    });
  }

  /** Messages not yet acknowledged by the bus. */
  async pendingMessages(chainId: number): Promise<number> {
    const [{ n }] = await queryRows<{ n: string }>(
      this.db,
      sql`SELECT (SELECT count(*) FROM outbox WHERE chain_id = ${chainId})
            + (SELECT count(*) FROM chain_events WHERE chain_id = ${chainId} AND id > coalesce((SELECT last_event_id FROM bus_cursor WHERE chain_id = ${chainId}), 0)) AS n`,
    );
    return Number(n);
  }
}

/** The single writer of one chain/stream: every method is one transaction on the lock-holding connection. */
export class StoreWriter {
  private released = false;

  constructor(
    private readonly qr: QueryRunner,
    readonly chainId: number,
    readonly stream: string,
    /** the Postgres backend holding the lock */
    readonly backendPid?: number,
  ) {}

  private async tx<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    if (this.released) throw new NotWriterError('this writer was released');
    return this.qr.manager.transaction(async (tx) => {
      // re-entrant for the session that holds the lock, refused while another session holds it
      const [{ ok }] = await queryRows<{ ok: boolean }>(
        tx,
        sql`SELECT pg_try_advisory_xact_lock(${LOCK_NAMESPACE}::int, hashtext(${`${this.chainId}:${this.stream}`})) AS ok`,
      );
      if (!ok) throw new NotWriterError(`another indexer holds the writer lock of ${this.chainId}:${this.stream}`);
      return fn(tx);
    });
  }

  /**
   * Stores one batch in one transaction: events (unique per chain/block/log: a log delivered twice changes
   * nothing; they are the outbox too), the projections of the new ones, the headers of `blocks` (for the
   * parent-hash check), the checkpoint `to`, and prunes headers older than `pruneBelow`.
   * Returns the events that were new.
   */
  async storeBatch(
    events: ChainEvent[],
    to: BlockHeader,
    opts: { blocks?: BlockHeader[]; chainHead?: number; pruneBelow?: number } = {},
  ): Promise<ChainEvent[]> {
    const chainId = this.chainId;
    // one copy of each log (a node may send one twice), in chain order
    const unique = new Map<string, ChainEvent>();
    for (const e of events) unique.set(`${e.txHash}:${e.logIndex}`, e);
    const ordered = [...unique.values()].sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);

    return this.tx(async (tx) => {
      let fresh: ChainEvent[] = [];
      if (ordered.length) {
        // which of them are stored already (a batch delivered again): a cheap look at the batch's block range
        const stored = await queryRows<{ tx_hash: string; log_index: number }>(
          tx,
          sql`SELECT tx_hash, log_index FROM chain_events WHERE chain_id = ${chainId} AND block_number BETWEEN ${ordered[0].blockNumber} AND ${ordered[ordered.length - 1].blockNumber}`,
        );
        const known = new Set(stored.map((r) => `${r.tx_hash}:${r.log_index}`));
        fresh = ordered.filter((e) => !known.has(`${e.txHash}:${e.logIndex}`));
      }
      if (fresh.length) {
        // events by COPY (they are also the outbox: the relay publishes them past the bus cursor). A conflict here
        // would mean a second writer: the batch fails whole rather than projecting an event twice.
        await copyRows(
          tx,
          'chain_events',
          ['chain_id', 'block_number', 'block_hash', 'block_time', 'tx_hash', 'log_index', 'contract', 'name', 'args'],
          fresh.map((e) => [
            chainId,
            e.blockNumber,
            e.blockHash,
            e.blockTime,
            e.txHash,
            e.logIndex,
            e.contract,
            e.name,
            JSON.stringify(e.args),
          ]),
        );
        await applyEvents(tx, chainId, fresh);
      }
      const headers = new Map((opts.blocks ?? []).map((b) => [b.blockNumber, b]));
      headers.set(to.blockNumber, to);
      const hs = [...headers.values()];
      await queryRows(
        tx,
        sql`INSERT INTO indexed_blocks (chain_id, stream, block_number, block_hash, parent_hash, block_time)
         SELECT ${chainId}::int, ${this.stream}::text, unnest(${hs.map((b) => b.blockNumber)}::bigint[]), unnest(${hs.map((b) => b.blockHash)}::text[]), unnest(${hs.map((b) => b.parentHash)}::text[]), unnest(${hs.map((b) => b.blockTime)}::bigint[])
         ON CONFLICT ON CONSTRAINT indexed_blocks_pk DO UPDATE
           SET block_hash = EXCLUDED.block_hash, parent_hash = EXCLUDED.parent_hash, block_time = EXCLUDED.block_time`,
      );
      if (opts.pruneBelow !== undefined)
        await execute(
          tx,
          sql`DELETE FROM indexed_blocks WHERE chain_id = ${chainId} AND stream = ${this.stream} AND block_number < ${opts.pruneBelow}`,
        );
      await queryRows(
        tx,
        sql`INSERT INTO indexer_checkpoints (chain_id, stream, block_number, block_hash, block_time, chain_head, updated_at)
         VALUES (${chainId}, ${this.stream}, ${to.blockNumber}, ${to.blockHash}, ${to.blockTime}, ${opts.chainHead ?? null}, now())
         ON CONFLICT ON CONSTRAINT indexer_checkpoints_pk DO UPDATE
           SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash, block_time = EXCLUDED.block_time,
               chain_head = COALESCE(EXCLUDED.chain_head, indexer_checkpoints.chain_head), updated_at = now()
           WHERE indexer_checkpoints.block_number <= EXCLUDED.block_number`,
      );
      return fresh;
    });
  }

  /**
   * Undoes everything above block `ancestor` (the common ancestor of a reorg) in one transaction: events and
   * ledger rows and parameter changes of later blocks are deleted, every study/credential/parameter, governance
   * proposal (with its votes), member's voting power and contract role they touched is rebuilt from its
   * remaining events, headers and checkpoint go back to the ancestor. Events already published (up to the bus
   * cursor) get a removal notice in the outbox; unpublished ones simply disappear.
   */
  async rollback(ancestor: BlockHeader): Promise<{ removed: number; rebuilt: number }> {
    const chainId = this.chainId;
    return this.tx(async (tx) => {
      const removed = await queryRows<ChainEventDbRow>(
        tx,
        sql`SELECT id, block_number, block_hash, block_time, tx_hash, log_index, contract, name, args FROM chain_events
         WHERE chain_id = ${chainId} AND block_number > ${ancestor.blockNumber} ORDER BY block_number, log_index`,
      );
      // wait for a relay that is publishing, then: events up to the cursor were published and need a notice
      const last = BigInt(await lockCursor(tx, chainId));
      const notices = removed.filter((r) => BigInt(r.id) <= last).map(toEvent);
      if (notices.length)
        await queryRows(
          tx,
          sql`INSERT INTO outbox (chain_id, payload) SELECT ${chainId}::int, unnest(${notices.map((e) => JSON.stringify(e))}::jsonb[])`,
        );

      const events = removed.map(toEvent);
      const studies = [...new Set(events.filter((e) => STUDY_EVENTS.includes(e.name)).map((e) => String(e.args.studyId)))];
      const radiologists = [...new Set(events.filter((e) => CREDENTIAL_EVENTS.includes(e.name)).map((e) => String(e.args.radiologist)))];
      const parameters = [...new Set(events.filter((e) => PARAMETER_EVENTS.includes(e.name)).map((e) => `${e.args.name}:${e.args.key}`))];
      // the low-volume entities (governance proposals, voting power, contract roles): by their entity key
      const others = new Set(events.filter((e) => REPLAYED_BY_ENTITY.includes(e.name)).map((e) => entityOf(e)!));

      await execute(tx, sql`DELETE FROM ledger_entries WHERE chain_id = ${chainId} AND block_number > ${ancestor.blockNumber}`);
      // append-only per event (keyed by tx/log): the rows of removed events go; the others stay as they are
      await execute(tx, sql`DELETE FROM parameter_changes WHERE chain_id = ${chainId} AND block_number > ${ancestor.blockNumber}`);
      await execute(tx, sql`DELETE FROM chain_events WHERE chain_id = ${chainId} AND block_number > ${ancestor.blockNumber}`);
      await execute(tx, sql`DELETE FROM studies WHERE chain_id = ${chainId} AND study_id = ANY(${studies}::text[])`);
      await execute(tx, sql`DELETE FROM credentials WHERE chain_id = ${chainId} AND radiologist = ANY(${radiologists}::text[])`);
      await execute(
        tx,
        sql`DELETE FROM incentive_parameters WHERE chain_id = ${chainId} AND (name || ':' || key) = ANY(${parameters}::text[])`,
      );
      await deleteEntities(tx, chainId, [...others]);

      const replay = await queryRows<Omit<ChainEventDbRow, 'id'>>(
        tx,
        sql`SELECT block_number, block_hash, block_time, tx_hash, log_index, contract, name, args FROM chain_events
         WHERE chain_id = ${chainId} AND (
              (name = ANY(${STUDY_EVENTS}::text[]) AND args->>'studyId' = ANY(${studies}::text[]))
           OR (name = ANY(${CREDENTIAL_EVENTS}::text[]) AND args->>'radiologist' = ANY(${radiologists}::text[]))
           OR (name = ANY(${PARAMETER_EVENTS}::text[]) AND (args->>'name') || ':' || (args->>'key') = ANY(${parameters}::text[]))
           OR (${others.size > 0} AND name = ANY(${REPLAYED_BY_ENTITY}::text[])))
         ORDER BY block_number, log_index`,
      );
      // the ledger rows of the replayed events are still there: only the entities are rebuilt (the low-volume
      // kinds are read whole and filtered here by entity key: a handful of rows per proposal, member or role)
      const toReplay = replay.map(toEvent).filter((e) => !REPLAYED_BY_ENTITY.includes(e.name) || others.has(entityOf(e)!));
      await applyEvents(tx, chainId, toReplay, { ledger: false });

      await execute(
        tx,
        sql`DELETE FROM indexed_blocks WHERE chain_id = ${chainId} AND stream = ${this.stream} AND block_number > ${ancestor.blockNumber}`,
      );
      await execute(
        tx,
        sql`UPDATE indexer_checkpoints SET block_number = ${ancestor.blockNumber}, block_hash = ${ancestor.blockHash}, block_time = ${ancestor.blockTime}, updated_at = now()
         WHERE chain_id = ${chainId} AND stream = ${this.stream}`,
      );
      return { removed: removed.length, rebuilt: studies.length + radiologists.length + parameters.length + others.size };
    });
  }

  /** Records the chain head (for lag and finality shown to users). */
  async setHead(chainHead: number): Promise<void> {
    await this.tx((tx) =>
      execute(
        tx,
        sql`UPDATE indexer_checkpoints SET chain_head = ${chainHead}, updated_at = now() WHERE chain_id = ${this.chainId} AND stream = ${this.stream}`,
      ),
    );
  }

  /** Marks the stream halted (or clears it with null): the API and health endpoints show it. */
  async setHalted(reason: string | null): Promise<void> {
    await this.tx((tx) =>
      execute(
        tx,
        sql`UPDATE indexer_checkpoints SET halted_reason = ${reason}, halted_at = CASE WHEN ${reason}::text IS NULL THEN NULL ELSE now() END
         WHERE chain_id = ${this.chainId} AND stream = ${this.stream}`,
      ),
    );
  }

  /**
   * One step of the worklist's bounty-ceiling refresher (worklist-bounds.ts) in its own transaction, at the chain
   * time of the indexed checkpoint. Null when nothing is indexed yet.
   */
  async refreshWorklistBounds(opts: BoundsRefreshOptions): Promise<BoundsChunkResult | null> {
    return this.tx(async (tx) => {
      const [cp] = await queryRows<{ block_time: string | null }>(
        tx,
        sql`SELECT block_time FROM indexer_checkpoints WHERE chain_id = ${this.chainId} AND stream = ${this.stream}`,
      );
      if (!cp || cp.block_time === null) return null;
      return refreshBoundsChunk(tx, this.chainId, Number(cp.block_time), opts);
    });
  }

  /** Is the lock connection still alive and ours? */
  async check(): Promise<boolean> {
    try {
      await this.tx(async () => undefined);
      return true;
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await queryRows(this.qr, sql`SELECT pg_advisory_unlock_all()`);
    } finally {
      await this.qr.release();
    }
  }
}
