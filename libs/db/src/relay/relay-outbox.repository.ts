import { Injectable } from '@nestjs/common';
import pg from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import { RELAY_SPEND_WINDOW_HOURS } from '#config';
import type { PruneOptions } from '../pruning.js';
import { queryRows, sql } from '../sql.js';

export type RelayStatus = 'QUEUED' | 'SENT' | 'MINED' | 'REVERTED' | 'FAILED';
/** What a row is for: gasless forward requests, or a service key's own call (see migrations/1764900000000-TransactionOutbox.ts). */
export type OutboxPurpose = 'gasless' | 'governance' | 'treasury' | 'settlement' | 'anchor' | 'nonce-fill';

export interface RelayAttempt {
  hash: string;
  maxFeePerGas: string;
  maxPriorityFeePerGas: string;
  sentAt: number;
}

/** A row of the transaction outbox. The forward-request fields are set on gasless rows only. */
export interface RelayRow {
  id: string;
  chainId: number;
  purpose: OutboxPurpose;
  /** the key that sends it (null: a gasless row from before the sender column, sent by the gasless key) */
  sender: string | null;
  dedupeKey: string | null;
  /** gasless: the EIP-712 digest of the forward request (what the signer signed; unique) */
  requestHash: string | null;
  forwarder: string | null;
  signer: string | null;
  signerNonce: bigint | null;
  target: string;
  function: string;
  data: string;
  /** gasless: the forwarded call's gas; other rows: null (estimated when sent) */
  gas: bigint | null;
  deadline: number | null;
  signature: string | null;
  status: RelayStatus;
  relayer: string | null;
  relayerNonce: number | null;
  attempts: RelayAttempt[];
  rawTx: string | null;
  txHash: string | null;
  blockNumber: number | null;
  costWei: bigint | null;
  errorCode: string | null;
  errorMessage: string | null;
  errorReason: string | null;
}

/** A gasless row: its forward request is set. */
export type GaslessRow = RelayRow & {
  forwarder: string;
  signer: string;
  signerNonce: bigint;
  gas: bigint;
  deadline: number;
  signature: string;
};

export interface NewRelayRequest {
  chainId: number;
  forwarder: string;
  signer: string;
  signerNonce: bigint;
  target: string;
  function: string;
  data: string;
  gas: bigint;
  deadline: number;
  signature: string;
  reservedWei: bigint;
  /** the EIP-712 digest of the forward request (the request's idempotency key) */
  requestHash?: string;
  /** the gasless key's address */
  sender: string;
}

/** The forwarder's execution of a gasless request, found on chain (not through the row's own attempts). */
export interface ExecutedOutcome {
  status: 'MINED' | 'FAILED';
  txHash: string;
  blockNumber: number;
  errorMessage?: string;
  /** when this relayer's key sent that transaction (a request whose row was lost): the key and what it paid */
  paidBy?: { relayer: string; costWei: bigint };
}

/** A service key's call: sent from `sender` to `target` with `data`, estimated and simulated when sent. */
export interface NewOutboxCall {
  chainId: number;
  purpose: Exclude<OutboxPurpose, 'gasless' | 'nonce-fill'>;
  sender: string;
  target: string;
  function: string;
  data: string;
  /** at most one live row per (purpose, dedupeKey): a second enqueue answers the live row */
  dedupeKey?: string;
}

/** Postgres NOTIFY channels: a row was queued (payload: its sender's address), a row became final (payload: its id). */
/** What the worker's `/metrics` shows of the outbox (see queueStats). */
export interface OutboxStats {
  /** the live rows (QUEUED, SENT) per purpose and status, with the age of the oldest in seconds */
  live: { purpose: OutboxPurpose; status: 'QUEUED' | 'SENT'; count: number; oldestSeconds: number }[];
  /** what the gasless key spent (actual once mined, reserved before) in the spend window, all signers together */
  gaslessSpentWei: bigint;
  /** the most any one signer used of its limit in the spend window */
  gaslessTopSignerSpentWei: bigint;
}

export const OUTBOX_QUEUED = 'openread_outbox_queued';
export const OUTBOX_SETTLED = 'openread_outbox_settled';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long connecting and LISTEN may take, and how long to wait before listening again after a lost connection. */
const LISTEN_TIMEOUT_MS = 5_000;
const RELISTEN_AFTER_MS = 2_000;

/**
 * LISTENs on one outbox channel over a connection of its own, so the API and the worker (separate processes) wake
 * each other at once instead of at their next poll. Only a shortcut: every wait still polls, so a lost connection
 * (logged through `warn`) costs latency, never a result; it listens again after RELISTEN_AFTER_MS, and connecting is
 * bounded, so a hung Postgres cannot hold up an app's start.
 */
export class OutboxListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly channel: typeof OUTBOX_QUEUED | typeof OUTBOX_SETTLED,
    private readonly onPayload: (payload: string) => void,
    private readonly warn: (message: string) => void,
  ) {}

  /** true while notifications are being received */
  get listening(): boolean {
    return this.client !== null;
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      connectionTimeoutMillis: LISTEN_TIMEOUT_MS,
      query_timeout: LISTEN_TIMEOUT_MS,
      keepAlive: true,
    });
    client.on('notification', (n) => {
      if (n.channel === this.channel) this.onPayload(n.payload ?? '');
    });
    client.on('error', (e) => {
      if (this.stopped) return;
      this.warn(`outbox notifications lost (${e.message.split('\n')[0]}): polling until they are back`);
      if (this.client === client) this.client = null;
      void client.end().catch(() => undefined);
      this.again();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      if (this.stopped) return void (await client.end().catch(() => undefined));
      this.client = client;
    } catch (e) {
      this.warn(`outbox notifications unavailable (${(e as Error).message.split('\n')[0]}): polling until they are back`);
      await client.end().catch(() => undefined);
      this.again();
    }
  }

  private again(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.start();
    }, RELISTEN_AFTER_MS);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}

const big = (v: unknown) => (v === null ? null : BigInt(v as string));

/** A relay_requests row as pg returns it (bigint and numeric columns arrive as strings). */
interface RelayDbRow {
  id: string;
  chain_id: number;
  purpose: RelayRow['purpose'];
  sender: string | null;
  dedupe_key: string | null;
  request_hash: string | null;
  forwarder: string | null;
  signer: string | null;
  signer_nonce: string | null;
  target: string;
  function: string;
  data: string;
  gas: string | null;
  deadline: string | null;
  signature: string | null;
  status: RelayRow['status'];
  relayer: string | null;
  relayer_nonce: string | null;
  attempts: RelayAttempt[];
  raw_tx: string | null;
  tx_hash: string | null;
  block_number: string | null;
  cost_wei: string | null;
  error_code: string | null;
  error_message: string | null;
  error_reason: string | null;
}

function toRow(r: RelayDbRow): RelayRow {
  return {
    id: String(r.id),
    chainId: r.chain_id,
    purpose: r.purpose,
    sender: r.sender,
    dedupeKey: r.dedupe_key,
    requestHash: r.request_hash,
    forwarder: r.forwarder,
    signer: r.signer,
    signerNonce: big(r.signer_nonce),
    target: r.target,
    function: r.function,
    data: r.data,
    gas: big(r.gas),
    deadline: r.deadline === null ? null : Number(r.deadline),
    signature: r.signature,
    status: r.status,
    relayer: r.relayer,
    relayerNonce: r.relayer_nonce === null ? null : Number(r.relayer_nonce),
    attempts: r.attempts,
    rawTx: r.raw_tx,
    txHash: r.tx_hash,
    blockNumber: r.block_number === null ? null : Number(r.block_number),
    costWei: big(r.cost_wei),
    errorCode: r.error_code,
    errorMessage: r.error_message,
    errorReason: r.error_reason,
  };
}

/** The transaction outbox (see migrations/1764510100000-RelayOutbox.ts and 1764900000000-TransactionOutbox.ts). */
@Injectable()
export class RelayOutboxRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Queues a request unless it would take the signer's spend over `limitWei` in the last RELAY_SPEND_WINDOW_HOURS
   * (24 h; each request
   * counts its actual cost once mined, its reservation until then). Serialised per signer by an advisory lock, so
   * concurrent requests cannot both fit under the limit. A live request with the same forwarder nonce makes the
   * unique index refuse the insert: 'duplicate' (same signature: the existing row is returned) or 'conflict'.
   */
  async enqueue(
    req: NewRelayRequest,
    limitWei: bigint,
  ): Promise<
    | { kind: 'queued'; row: RelayRow }
    | { kind: 'duplicate'; row: RelayRow }
    | { kind: 'conflict'; spentWei: bigint }
    | { kind: 'over-limit'; spentWei: bigint }
  > {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('relay-spend:' || $1))`, [req.signer]);
      // the same signed request again, whatever became of it
      if (req.requestHash) {
        const same = await tx.query(`SELECT * FROM relay_requests WHERE chain_id = $1 AND request_hash = $2`, [
          req.chainId,
          req.requestHash,
        ]);
        if (same.length) return { kind: 'duplicate' as const, row: toRow(same[0]) };
      }
      const existing = await tx.query(
        `SELECT * FROM relay_requests WHERE chain_id = $1 AND forwarder = $2 AND signer = $3 AND signer_nonce = $4
           AND status IN ('QUEUED','SENT','MINED')`,
        [req.chainId, req.forwarder, req.signer, req.signerNonce.toString()],
      );
      if (existing.length)
        return existing[0].signature === req.signature
          ? { kind: 'duplicate' as const, row: toRow(existing[0]) }
          : { kind: 'conflict' as const, spentWei: 0n };
      const [{ spent }] = await tx.query(
        `SELECT COALESCE(sum(COALESCE(cost_wei, reserved_wei)), 0) AS spent FROM relay_requests
         WHERE chain_id = $1 AND signer = $2 AND status <> 'FAILED' AND created_at > now() - make_interval(hours => $3)`,
        [req.chainId, req.signer, RELAY_SPEND_WINDOW_HOURS],
      );
      if (BigInt(spent) + req.reservedWei > limitWei) return { kind: 'over-limit' as const, spentWei: BigInt(spent) };
      // the unique index is the guard; the SELECT above only picks the friendlier answer
      const rows = await tx.query(
        `INSERT INTO relay_requests (chain_id, forwarder, signer, signer_nonce, target, function, data, gas, deadline, signature, reserved_wei, sender, request_hash)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING *`,
        [
          req.chainId,
          req.forwarder,
          req.signer,
          req.signerNonce.toString(),
          req.target,
          req.function,
          req.data,
          req.gas.toString(),
          req.deadline,
          req.signature,
          req.reservedWei.toString(),
          req.sender,
          req.requestHash ?? null,
        ],
      );
      await tx.query(`SELECT pg_notify('${OUTBOX_QUEUED}', $1)`, [req.sender]);
      return { kind: 'queued' as const, row: toRow(rows[0]) };
    });
  }

  /**
   * Queues a service key's call. With a dedupeKey, a live row with the same (purpose, key) makes the unique index
   * skip the insert and that row is answered instead (created: false): idempotent without check-then-insert.
   * `db` lets a caller enqueue inside its own transaction, with its other writes.
   */
  async enqueueCall(call: NewOutboxCall, db: Pick<DataSource, 'query'> = this.db): Promise<{ row: RelayRow; created: boolean }> {
    for (;;) {
      const rows = await db.query(
        `INSERT INTO relay_requests (chain_id, purpose, sender, target, function, data, dedupe_key)
         VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (chain_id, purpose, dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('QUEUED','SENT') DO NOTHING
         RETURNING *`,
        [
          call.chainId,
          call.purpose,
          call.sender.toLowerCase(),
          call.target.toLowerCase(),
          call.function,
          call.data,
          call.dedupeKey ?? null,
        ],
      );
      if (rows.length) {
        // (inside the caller's transaction, delivered when it commits)
        await db.query(`SELECT pg_notify('${OUTBOX_QUEUED}', $1)`, [call.sender.toLowerCase()]);
        return { row: toRow(rows[0]), created: true };
      }
      const live = await db.query(
        `SELECT * FROM relay_requests WHERE chain_id = $1 AND purpose = $2 AND dedupe_key = $3 AND status IN ('QUEUED','SENT')`,
        [call.chainId, call.purpose, call.dedupeKey],
      );
      // (the live row may have become final between the two statements: then insert again)
      if (live.length) return { row: toRow(live[0]), created: false };
    }
  }

  async findById(id: string): Promise<RelayRow | null> {
    const rows = await this.db.query(`SELECT * FROM relay_requests WHERE id = $1`, [id]);
    return rows.length ? toRow(rows[0]) : null;
  }

  /**
   * The row once it is final (MINED, REVERTED or FAILED), or as it is after `timeoutMs`: the bounded wait of whoever
   * queued it (the sender runs in the worker app), re-reading the row every `pollMs`.
   */
  async settled(id: string, timeoutMs: number, pollMs: number, nap: (ms: number) => Promise<void> = sleep): Promise<RelayRow> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const row = await this.findById(id);
      if (!row) throw new Error(`outbox row ${id} vanished`);
      if (!['QUEUED', 'SENT'].includes(row.status) || Date.now() >= until) return row;
      await nap(Math.min(pollMs, Math.max(0, until - Date.now())));
    }
  }

  /** The gasless request with this EIP-712 digest (any status), if any. */
  async findByRequestHash(chainId: number, requestHash: string): Promise<RelayRow | null> {
    const rows = await this.db.query(`SELECT * FROM relay_requests WHERE chain_id = $1 AND request_hash = $2`, [chainId, requestHash]);
    return rows.length ? toRow(rows[0]) : null;
  }

  /** The live (queued, in flight or mined) request with this forwarder nonce, if any. */
  async findLive(chainId: number, forwarder: string, signer: string, nonce: bigint): Promise<RelayRow | null> {
    const rows = await this.db.query(
      `SELECT * FROM relay_requests WHERE chain_id = $1 AND forwarder = $2 AND signer = $3 AND signer_nonce = $4
         AND status IN ('QUEUED','SENT','MINED')`,
      [chainId, forwarder, signer, nonce.toString()],
    );
    return rows.length ? toRow(rows[0]) : null;
  }

  /** Highest forwarder nonce the signer has live in the outbox (for the next request's nonce), or null. */
  async highestLiveNonce(chainId: number, forwarder: string, signer: string): Promise<bigint | null> {
    const [r] = await this.db.query(
      `SELECT max(signer_nonce) AS n FROM relay_requests WHERE chain_id = $1 AND forwarder = $2 AND signer = $3
         AND status IN ('QUEUED','SENT')`,
      [chainId, forwarder, signer],
    );
    return r.n === null ? null : BigInt(r.n);
  }

  /**
   * Rows the key `sender` still has to send or watch, oldest first; with `gaslessKey`, also gasless rows queued
   * before rows named their sender. Fair per gasless signer: a signer's requests go one at a time (the forwarder's
   * nonces are sequential), so only each signer's oldest live request is picked; one signer's backlog cannot fill
   * the page and starve everyone else's. Every other row is a line of its own.
   */
  async pending(chainId: number, sender: string, gaslessKey: boolean, limit = 100): Promise<RelayRow[]> {
    const rows = await this.db.query(
      `SELECT * FROM (
         SELECT r.*, row_number() OVER (PARTITION BY CASE WHEN purpose = 'gasless' THEN signer ELSE id::text END ORDER BY id) AS line_rank
         FROM relay_requests r WHERE chain_id = $1 AND status IN ('QUEUED','SENT')
           AND (sender = $2 OR ($3 AND sender IS NULL AND purpose = 'gasless'))) p
       WHERE line_rank = 1 ORDER BY id LIMIT $4`,
      [chainId, sender.toLowerCase(), gaslessKey, limit],
    );
    return rows.map(toRow);
  }

  /**
   * The spend limit again at send time, with the cost the request will really have (the outer transaction as built
   * now, at today's fees): true and the reservation updated when the signer's 24 h spend still fits under
   * `limitWei`, false when it does not (then the caller fails the request).
   */
  async recheckSpend(id: string, chainId: number, signer: string, costWei: bigint, limitWei: bigint): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('relay-spend:' || $1))`, [signer]);
      const [{ spent }] = await tx.query(
        `SELECT COALESCE(sum(COALESCE(cost_wei, reserved_wei)), 0) AS spent FROM relay_requests
         WHERE chain_id = $1 AND signer = $2 AND status <> 'FAILED' AND id <> $3 AND created_at > now() - make_interval(hours => $4)`,
        [chainId, signer, id, RELAY_SPEND_WINDOW_HOURS],
      );
      if (BigInt(spent) + costWei > limitWei) return false;
      await tx.query(`UPDATE relay_requests SET reserved_wei = $2 WHERE id = $1`, [id, costWei.toString()]);
      return true;
    });
  }

  /**
   * A sent row whose transaction the node refused outright (too large, underpriced, …): the row fails with the
   * reason, and its relayer nonce passes to a 0-value self-transfer (a 'nonce-fill' row, sent and watched like any
   * other) so the key's later transactions do not wait behind the gap. One transaction: never a nonce without a
   * row that will use it.
   */
  async refusedAtBroadcast(
    id: string,
    code: string,
    message: string,
    fill: { chainId: number; sender: string; nonce: number; raw: string; attempt: RelayAttempt },
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      const failed = await tx.query(
        `WITH u AS (UPDATE relay_requests SET status = 'FAILED', error_code = $2, error_message = $3, relayer_nonce = NULL,
           raw_tx = NULL, updated_at = now()
         WHERE id = $1 AND status = 'SENT' RETURNING id) SELECT id FROM u`,
        [id, code, message],
      );
      if (!failed.length) return;
      await tx.query(
        `INSERT INTO relay_requests (chain_id, purpose, sender, target, function, data, status, relayer, relayer_nonce, raw_tx, tx_hash, attempts)
         VALUES ($1, 'nonce-fill', $2, $2, 'nonce-fill', '0x', 'SENT', $2, $3, $4, $5, $6::jsonb)`,
        [fill.chainId, fill.sender, fill.nonce, fill.raw, fill.attempt.hash, JSON.stringify([fill.attempt])],
      );
      await tx.query(`SELECT pg_notify('${OUTBOX_SETTLED}', $1)`, [id]);
    });
  }

  /**
   * A gasless request someone else got executed first (its signed request sent to the forwarder directly): its
   * outcome is that transaction's, and the signer is charged nothing (the relayer's own copy, if any, is the
   * relayer's loss). When that transaction was this relayer's own (`paidBy`: a row restored from a backup older than
   * its sending), its cost is the signer's as usual.
   */
  async executedElsewhere(id: string, outcome: ExecutedOutcome): Promise<void> {
    await this.db.query(
      `WITH u AS (UPDATE relay_requests SET status = $2, tx_hash = $3, block_number = $4, cost_wei = $6, reserved_wei = 0,
           relayer = COALESCE($7, relayer), error_code = CASE WHEN $2 = 'FAILED' THEN 'CONFLICT' END, error_message = $5, updated_at = now()
       WHERE id = $1 AND status IN ('QUEUED','SENT') RETURNING id)
       SELECT pg_notify('${OUTBOX_SETTLED}', id::text) FROM u`,
      [
        id,
        outcome.status,
        outcome.txHash,
        outcome.blockNumber,
        outcome.errorMessage ?? null,
        (outcome.paidBy?.costWei ?? 0n).toString(),
        outcome.paidBy?.relayer ?? null,
      ],
    );
  }

  /**
   * A gasless request the forwarder executed that has no row here: its row was lost (a database restored from a
   * backup taken before the request was queued or sent). Recorded as final, nothing to send, so its signer learns the
   * outcome by sending it again or by its hash, and what this relayer paid for it counts against the signer's limit.
   * The unique indexes decide between two API instances recording it at once: then the other's row is answered.
   * Null when a different live request holds the signer's nonce.
   */
  async recordExecuted(req: NewRelayRequest, outcome: ExecutedOutcome): Promise<RelayRow | null> {
    const rows = await this.db.query(
      `INSERT INTO relay_requests (chain_id, forwarder, signer, signer_nonce, target, function, data, gas, deadline, signature, reserved_wei,
         sender, request_hash, status, tx_hash, block_number, cost_wei, relayer, error_code, error_message)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,0,$11,$12,$13,$14,$15,$16,$17,CASE WHEN $13 = 'FAILED' THEN 'CONFLICT' END,$18)
       ON CONFLICT DO NOTHING RETURNING *`,
      [
        req.chainId,
        req.forwarder,
        req.signer,
        req.signerNonce.toString(),
        req.target,
        req.function,
        req.data,
        req.gas.toString(),
        req.deadline,
        req.signature,
        req.sender,
        req.requestHash ?? null,
        outcome.status,
        outcome.txHash,
        outcome.blockNumber,
        (outcome.paidBy?.costWei ?? 0n).toString(),
        outcome.paidBy?.relayer ?? null,
        outcome.errorMessage ?? null,
      ],
    );
    if (rows.length) return toRow(rows[0]);
    return req.requestHash ? this.findByRequestHash(req.chainId, req.requestHash) : null;
  }

  /**
   * Assigns the relayer's next nonce to a queued request and stores the signed transaction, in one transaction,
   * before it is broadcast. `sign(nonce)` builds the transaction. The nonce is max(stored next, chain's count).
   * `via`: the connection to commit through (the sender's: the one holding the key's lock), else the pool.
   */
  async markSent(
    id: string,
    chainId: number,
    relayer: string,
    chainNonce: number,
    sign: (nonce: number) => Promise<{ raw: string; attempt: RelayAttempt }>,
    via: Pick<EntityManager, 'transaction'> = this.db.manager,
  ): Promise<RelayRow | null> {
    return via.transaction(async (tx) => {
      await tx.query(`INSERT INTO relayer_nonces (chain_id, relayer, next_nonce) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        chainId,
        relayer,
        chainNonce,
      ]);
      // (UPDATE … RETURNING through TypeORM answers [rows, count]; wrapped in a CTE it answers rows)
      const [{ nonce }] = await tx.query(
        `WITH u AS (UPDATE relayer_nonces SET next_nonce = GREATEST(next_nonce, $3) + 1 WHERE chain_id = $1 AND relayer = $2
         RETURNING next_nonce - 1 AS nonce) SELECT nonce FROM u`,
        [chainId, relayer, chainNonce],
      );
      const { raw, attempt } = await sign(Number(nonce));
      const rows = await tx.query(
        `WITH u AS (UPDATE relay_requests SET status = 'SENT', relayer = $2, relayer_nonce = $3, raw_tx = $4, tx_hash = $5,
           attempts = attempts || $6::jsonb, updated_at = now()
         WHERE id = $1 AND status = 'QUEUED' RETURNING *) SELECT * FROM u`,
        [id, relayer, nonce, raw, attempt.hash, JSON.stringify([attempt])],
      );
      if (!rows.length) throw new Error(`relay request ${id} was no longer queued`);
      return toRow(rows[0]);
    });
  }

  /** A replacement (same nonce, higher fee) of a sent request, stored before it is broadcast. */
  async replaced(id: string, raw: string, attempt: RelayAttempt): Promise<void> {
    await this.db.query(
      `UPDATE relay_requests SET raw_tx = $2, tx_hash = $3, attempts = attempts || $4::jsonb, updated_at = now()
       WHERE id = $1 AND status = 'SENT'`,
      [id, raw, attempt.hash, JSON.stringify([attempt])],
    );
  }

  /**
   * A sent request whose relayer nonce was taken by a transaction that is none of its attempts (the relayer's key
   * used elsewhere): those attempts can never be mined, so it goes back to the queue to be sent with a new nonce.
   */
  async requeue(id: string): Promise<void> {
    await this.db.query(
      `UPDATE relay_requests SET status = 'QUEUED', relayer = NULL, relayer_nonce = NULL, raw_tx = NULL, tx_hash = NULL,
         attempts = '[]', updated_at = now()
       WHERE id = $1 AND status = 'SENT'`,
      [id],
    );
  }

  async finished(
    id: string,
    outcome: { status: 'MINED' | 'REVERTED'; txHash: string; blockNumber: number; costWei: bigint },
  ): Promise<void> {
    await this.db.query(
      `WITH u AS (UPDATE relay_requests SET status = $2, tx_hash = $3, block_number = $4, cost_wei = $5, updated_at = now()
       WHERE id = $1 AND status = 'SENT' RETURNING id)
       SELECT pg_notify('${OUTBOX_SETTLED}', id::text) FROM u`,
      [id, outcome.status, outcome.txHash, outcome.blockNumber, outcome.costWei.toString()],
    );
  }

  /** Refused before sending (nothing was broadcast; the forwarder nonce stays unused); `reason`: the contract error's name. */
  async failed(id: string, code: string, message: string, reason: string | null = null): Promise<void> {
    await this.db.query(
      `WITH u AS (UPDATE relay_requests SET status = 'FAILED', error_code = $2, error_message = $3, error_reason = $4, updated_at = now()
       WHERE id = $1 AND status = 'QUEUED' RETURNING id)
       SELECT pg_notify('${OUTBOX_SETTLED}', id::text) FROM u`,
      [id, code, message, reason],
    );
  }

  /** The outbox's depth and the gasless spend in the spend window, for the worker's metrics (two reads, no lock). */
  async queueStats(chainId: number): Promise<OutboxStats> {
    const live = await queryRows<{ purpose: OutboxPurpose; status: 'QUEUED' | 'SENT'; n: number; oldest_s: number }>(
      this.db,
      sql`SELECT purpose, status, count(*)::int AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest_s
          FROM relay_requests WHERE chain_id = ${chainId} AND status IN ('QUEUED','SENT')
          GROUP BY purpose, status ORDER BY purpose, status`,
    );
    const [spend] = await queryRows<{ total: string; top: string }>(
      this.db,
      sql`SELECT COALESCE(sum(s), 0)::text AS total, COALESCE(max(s), 0)::text AS top FROM (
            SELECT sum(COALESCE(cost_wei, reserved_wei)) AS s FROM relay_requests
            WHERE chain_id = ${chainId} AND purpose = 'gasless' AND status <> 'FAILED'
              AND created_at > now() - make_interval(hours => ${RELAY_SPEND_WINDOW_HOURS})
            GROUP BY signer) per_signer`,
    );
    return {
      live: live.map((r) => ({ purpose: r.purpose, status: r.status, count: r.n, oldestSeconds: r.oldest_s })),
      gaslessSpentWei: BigInt(spend.total),
      gaslessTopSignerSpentWei: BigInt(spend.top),
    };
  }

  /**
   * Deletes final requests (MINED, REVERTED, FAILED) of this chain whose last change is older than `retentionHours`,
   * never less than the spend window: what enqueue() sums (rows created within RELAY_SPEND_WINDOW_HOURS) stays, and
   * so does everything still QUEUED or SENT, whatever its age. A deleted row's forward request expired long ago
   * (requests live 15 minutes), so its forwarder nonce cannot be queued again meanwhile. Batched by ctid with
   * `FOR UPDATE SKIP LOCKED` on a partial index of final rows. Returns how many were deleted.
   */
  async pruneFinal(chainId: number, retentionHours: number, opts: PruneOptions): Promise<number> {
    const hours = Math.max(retentionHours, RELAY_SPEND_WINDOW_HOURS);
    let total = 0;
    for (let batch = 0; batch < (opts.maxBatches ?? 1000); batch++) {
      const [{ n }] = await this.db.query(
        `WITH doomed AS (
           SELECT ctid FROM relay_requests
           WHERE chain_id = $1 AND status IN ('MINED','REVERTED','FAILED')
             AND updated_at < now() - make_interval(hours => $2) AND created_at < now() - make_interval(hours => $2)
           ORDER BY updated_at
           LIMIT $3
           FOR UPDATE SKIP LOCKED),
         gone AS (DELETE FROM relay_requests r WHERE r.ctid = ANY (ARRAY(SELECT ctid FROM doomed)) RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
        [chainId, hours, opts.batchSize],
      );
      total += n;
      if (n < opts.batchSize) break;
    }
    return total;
  }
}
