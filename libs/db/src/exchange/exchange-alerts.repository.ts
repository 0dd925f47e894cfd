// The exchange's misuse reports, notifications and access alerts (libs/db/src/exchange), read from the tables the
// indexer's exchange projection writes (exchange_leases, exchange_custody, exchange_ro_accounts,
// exchange_expired_uses, exchange_misuse_reports, exchange_flags), chain_events (the indexed event log) and
// study_access_log (the API's leasedStudy writes it). exchange_notification_reads is written only here, by the
// API's markExchangeNotificationsRead.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

/** What an exchange notification is about (closed). */
export type ExchangeNotificationKind =
  'EXPIRED_USE_RECORDED' | 'FETCH_REFUSED_EXPIRED' | 'LEASE_REQUESTED' | 'MISUSE_REPORTED' | 'ACCOUNT_FLAGGED';

/** A notification's place in the list: newest first by time (ms), then by key. */
export interface NotificationPosition {
  atMs: number;
  key: string;
}

export interface ExchangeNotificationRow {
  kind: ExchangeNotificationKind;
  /** stable per notification (what marking read names): `xu:<block>:<log>`, `log:<seq>`, `req:<lease>`, `mr:<lease>`, `flag:<account>:<block>` */
  key: string;
  /** chain time (block time) for chain events, the API's clock for access-log rows, in ms */
  atMs: number;
  leaseId: string | null;
  studyId: string | null;
  /** the account concerned: who used or tried the lease, who was reported or flagged, or the requesting RO */
  account: string | null;
  /** misuse reports against the account (the chain's count at the report or flag) */
  count: number | null;
  txHash: string | null;
  read: boolean;
}

export interface MisuseReportRow {
  leaseId: string;
  studyId: string;
  /** the lessee RO whose account was reported */
  requester: string;
  reporter: string;
  /** the account's count after this report */
  count: number;
  txHash: string;
  blockNumber: number;
  blockTime: number;
}

export interface MisuseAccountRow {
  account: string;
  /** the exchange RO the account acts for now (null: removed from it) */
  ro: string | null;
  roSuspended: boolean;
  /** every report against the account on chain (not only those the caller sees) */
  count: number;
  flagged: boolean;
  flaggedAt: number | null;
  /** the reports the caller's ROs made or received, newest first */
  reports: MisuseReportRow[];
}

/** One alert for a custodian: an expired use recorded on chain, or a lease fetch the API refused after expiry. */
export interface AccessAlertRow {
  kind: 'EXPIRED_USE_RECORDED' | 'FETCH_REFUSED_EXPIRED';
  /** the custodian RO (principal account) it is for */
  custodian: string;
  leaseId: string | null;
  studyId: string;
  account: string;
  atMs: number;
  txHash: string | null;
}

/** Where the alert feed is: the indexed event log's id and the access log's seq. */
export interface AlertPosition {
  eventId: number;
  logSeq: number;
}

/**
 * The lease a refused fetch (study_access_log row `g`) was about, when that is certain: the access log names the
 * study and the account, not the lease, so this is the lessee RO's granted (or renewed) lease of the study if it has
 * exactly one, and null if it has several.
 */
const refusedLease = sql`(SELECT CASE WHEN count(*) = 1 THEN min(l.lease_id)::text END FROM exchange_leases l
        JOIN exchange_ro_accounts a ON a.chain_id = l.chain_id AND a.ro = l.requester AND a.account = g.account
        WHERE l.chain_id = g.chain_id AND l.study_id = g.study_id AND l.status IN ('GRANTED', 'RENEWED'))`;

@Injectable()
export class ExchangeAlertsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Accounts reported for misuse in reports one of `ros` made (as custodian) or received (as lessee), by account,
   * after `after`; each with its chain-wide count, flag, current RO and the reports `ros` are party to.
   */
  async misuseAccounts(chainId: number, ros: string[], after: string | null, limit: number): Promise<MisuseAccountRow[]> {
    const rows = await queryRows<{
      account: string;
      ro: string | null;
      ro_suspended: boolean | null;
      count: number;
      flagged: boolean | null;
      flagged_at: string | null;
      reports: {
        lease_id: string;
        study_id: string;
        requester: string;
        reporter: string;
        count: number;
        tx_hash: string;
        block_number: number;
        block_time: number;
      }[];
    }>(
      this.db,
      sql`WITH mine AS (
         SELECT m.*, l.study_id, l.requester FROM exchange_misuse_reports m
         JOIN exchange_leases l ON l.chain_id = m.chain_id AND l.lease_id = m.lease_id
         WHERE m.chain_id = ${chainId} AND (l.requester = ANY(${ros}::text[]) OR l.custodian = ANY(${ros}::text[]))
           ${after === null ? sql`` : sql`AND m.account > ${after}`}),
       accounts AS (SELECT DISTINCT account FROM mine ORDER BY account LIMIT ${limit})
       SELECT a.account, ra.ro, r.suspended AS ro_suspended,
              (SELECT max(x.count) FROM exchange_misuse_reports x WHERE x.chain_id = ${chainId} AND x.account = a.account)::int AS count,
              f.flagged, f.flagged_at,
              (SELECT json_agg(json_build_object('lease_id', m.lease_id::text, 'study_id', m.study_id, 'requester', m.requester,
                                                 'reporter', m.reporter, 'count', m.count, 'tx_hash', m.tx_hash,
                                                 'block_number', m.block_number, 'block_time', m.block_time)
                               ORDER BY m.block_number DESC, m.log_index DESC)
               FROM mine m WHERE m.account = a.account) AS reports
       FROM accounts a
       LEFT JOIN exchange_ro_accounts ra ON ra.chain_id = ${chainId} AND ra.account = a.account AND ra.removed_block IS NULL
       LEFT JOIN exchange_ros r ON r.chain_id = ${chainId} AND r.ro = ra.ro
       LEFT JOIN exchange_flags f ON f.chain_id = ${chainId} AND f.account = a.account
       ORDER BY a.account`,
    );
    return rows.map((r) => ({
      account: r.account,
      ro: r.ro,
      roSuspended: r.ro_suspended ?? false,
      count: r.count,
      flagged: r.flagged ?? false,
      flaggedAt: r.flagged ? Number(r.flagged_at) : null,
      reports: r.reports.map((m) => ({
        leaseId: m.lease_id,
        studyId: m.study_id,
        requester: m.requester,
        reporter: m.reporter,
        count: Number(m.count),
        txHash: m.tx_hash,
        blockNumber: Number(m.block_number),
        blockTime: Number(m.block_time),
      })),
    }));
  }

  /**
   * The notifications of the exchange ROs `ros` (the platform RO `roId`'s), newest first, after `after`: expired uses
   * recorded on chain of leases they granted, fetches refused after expiry of studies they hold, lease requests for
   * studies they hold, misuse reports against them, and flags of their accounts; each with whether `roId` marked it read.
   */
  async notifications(
    chainId: number,
    roId: string,
    ros: string[],
    after: NotificationPosition | null,
    limit: number,
  ): Promise<ExchangeNotificationRow[]> {
    const rows = await queryRows<{
      kind: ExchangeNotificationKind;
      key: string;
      at_ms: string;
      lease_id: string | null;
      study_id: string | null;
      account: string | null;
      count: number | null;
      tx_hash: string | null;
      read: boolean;
    }>(
      this.db,
      sql`WITH n AS (
         SELECT 'EXPIRED_USE_RECORDED'::text AS kind, ('xu:' || u.block_number || ':' || u.log_index)::text AS key, u.block_time * 1000 AS at_ms,
                u.lease_id::text AS lease_id, l.study_id::text AS study_id, u.account::text AS account, NULL::int AS count, u.tx_hash::text AS tx_hash
         FROM exchange_expired_uses u JOIN exchange_leases l ON l.chain_id = u.chain_id AND l.lease_id = u.lease_id
         WHERE u.chain_id = ${chainId} AND l.custodian = ANY(${ros}::text[])
         UNION ALL
         SELECT 'FETCH_REFUSED_EXPIRED', 'log:' || g.seq, g.at_ms, ${refusedLease}, g.study_id, g.account, NULL, NULL
         FROM study_access_log g JOIN exchange_custody c ON c.chain_id = g.chain_id AND c.study_id = g.study_id
         WHERE g.chain_id = ${chainId} AND c.ro = ANY(${ros}::text[]) AND g.action = 'FETCH_LEASE' AND g.reason = 'LEASE_EXPIRED'
         UNION ALL
         SELECT 'LEASE_REQUESTED', 'req:' || l.lease_id, l.requested_at * 1000, l.lease_id::text, l.study_id, l.requester, NULL, NULL
         FROM exchange_leases l JOIN exchange_custody c ON c.chain_id = l.chain_id AND c.study_id = l.study_id
         WHERE l.chain_id = ${chainId} AND coalesce(l.custodian, c.ro) = ANY(${ros}::text[])
         UNION ALL
         SELECT 'MISUSE_REPORTED', 'mr:' || m.lease_id, m.block_time * 1000, m.lease_id::text, l.study_id, m.account, m.count, m.tx_hash
         FROM exchange_misuse_reports m JOIN exchange_leases l ON l.chain_id = m.chain_id AND l.lease_id = m.lease_id
         WHERE m.chain_id = ${chainId} AND l.requester = ANY(${ros}::text[])
         UNION ALL
         SELECT 'ACCOUNT_FLAGGED', 'flag:' || f.account || ':' || f.flagged_block, f.flagged_at * 1000, NULL, NULL, f.account, f.count, NULL
         FROM exchange_flags f JOIN exchange_ro_accounts a ON a.chain_id = f.chain_id AND a.account = f.account
         WHERE f.chain_id = ${chainId} AND f.flagged AND a.ro = ANY(${ros}::text[]))
       SELECT n.*, EXISTS (SELECT 1 FROM exchange_notification_reads r
                           WHERE r.chain_id = ${chainId} AND r.ro_id = ${roId}::uuid AND r.notification = n.key) AS read
       FROM n
       ${after === null ? sql`` : sql`WHERE (n.at_ms, n.key) < (${after.atMs}::bigint, ${after.key}::text)`}
       ORDER BY n.at_ms DESC, n.key DESC
       LIMIT ${limit}`,
    );
    return rows.map((r) => ({
      kind: r.kind,
      key: r.key,
      atMs: Number(r.at_ms),
      leaseId: r.lease_id,
      studyId: r.study_id,
      account: r.account,
      count: r.count,
      txHash: r.tx_hash,
      read: r.read,
    }));
  }

  /** Marks notifications `keys` read for the platform RO `roId` (idempotent); answers how many were newly marked. */
  async markRead(chainId: number, roId: string, keys: string[], by: string): Promise<number> {
    const rows = await queryRows<{ notification: string }>(
      this.db,
      sql`INSERT INTO exchange_notification_reads (chain_id, ro_id, notification, read_by)
       SELECT ${chainId}, ${roId}::uuid, k, ${by} FROM unnest(${keys}::text[]) AS k
       ON CONFLICT ON CONSTRAINT exchange_notification_reads_pk DO NOTHING
       RETURNING notification`,
    );
    return rows.length;
  }

  /** The newest indexed event and access-log entry: the alert feed starts after them. */
  async alertHead(chainId: number): Promise<AlertPosition> {
    const [r] = await queryRows<{ event_id: string; log_seq: string }>(
      this.db,
      sql`SELECT (SELECT coalesce(max(id), 0) FROM chain_events WHERE chain_id = ${chainId}) AS event_id,
              (SELECT coalesce(max(seq), 0) FROM study_access_log) AS log_seq`,
    );
    return { eventId: Number(r.event_id), logSeq: Number(r.log_seq) };
  }

  /**
   * Alerts in (from, until] of both logs, at most `limit` of each, in the order they were stored: ExpiredUseRecorded
   * events (with the lease's custodian) and FETCH_LEASE rows refused with LEASE_EXPIRED (with the study's custodian).
   * `last` is how far each page read (`full`: the page was full, more may follow).
   */
  async alertsAfter(
    chainId: number,
    from: AlertPosition,
    until: AlertPosition,
    limit: number,
  ): Promise<{ alerts: AccessAlertRow[]; last: AlertPosition; full: boolean }> {
    const events = await queryRows<{
      id: string;
      custodian: string | null;
      lease_id: string;
      study_id: string | null;
      account: string;
      block_time: string;
      tx_hash: string;
    }>(
      this.db,
      sql`SELECT e.id, coalesce(l.custodian, c.ro) AS custodian, e.args->>'leaseId' AS lease_id, l.study_id, lower(e.args->>'account') AS account,
              e.block_time, e.tx_hash
       FROM chain_events e
       LEFT JOIN exchange_leases l ON l.chain_id = e.chain_id AND l.lease_id = (e.args->>'leaseId')::numeric
       LEFT JOIN exchange_custody c ON c.chain_id = l.chain_id AND c.study_id = l.study_id
       WHERE e.chain_id = ${chainId} AND e.id > ${from.eventId} AND e.id <= ${until.eventId} AND e.name = 'ExpiredUseRecorded'
       ORDER BY e.id LIMIT ${limit}`,
    );
    const refused = await queryRows<{
      seq: string;
      custodian: string;
      lease_id: string | null;
      study_id: string;
      account: string;
      at_ms: string;
    }>(
      this.db,
      sql`SELECT g.seq, c.ro AS custodian, ${refusedLease} AS lease_id, g.study_id, g.account, g.at_ms
       FROM study_access_log g JOIN exchange_custody c ON c.chain_id = g.chain_id AND c.study_id = g.study_id
       WHERE g.chain_id = ${chainId} AND g.seq > ${from.logSeq} AND g.seq <= ${until.logSeq}
         AND g.action = 'FETCH_LEASE' AND g.reason = 'LEASE_EXPIRED'
       ORDER BY g.seq LIMIT ${limit}`,
    );
    const alerts: AccessAlertRow[] = [
      ...events
        .filter((e) => e.custodian !== null && e.study_id !== null)
        .map((e) => ({
          kind: 'EXPIRED_USE_RECORDED' as const,
          custodian: e.custodian!,
          leaseId: e.lease_id,
          studyId: e.study_id!,
          account: e.account,
          atMs: Number(e.block_time) * 1000,
          txHash: e.tx_hash,
        })),
      ...refused.map((g) => ({
        kind: 'FETCH_REFUSED_EXPIRED' as const,
        custodian: g.custodian,
        leaseId: g.lease_id,
        studyId: g.study_id,
        account: g.account,
        atMs: Number(g.at_ms),
        txHash: null,
      })),
    ];
    const eventsFull = events.length === limit;
    const refusedFull = refused.length === limit;
    return {
      alerts,
      // a full page moves only as far as it read; otherwise the whole range was read
      last: {
        eventId: eventsFull ? Number(events.at(-1)!.id) : until.eventId,
        logSeq: refusedFull ? Number(refused.at(-1)!.seq) : until.logSeq,
      },
      full: eventsFull || refusedFull,
    };
  }
}
