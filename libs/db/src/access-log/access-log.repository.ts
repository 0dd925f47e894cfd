// The access-log aggregate (libs/db/src/access-log): study_access_log is insert-only through append(); seq,
// prev_hash and hash are set by the BEFORE INSERT trigger study_access_log_chain, and UPDATE, DELETE and
// TRUNCATE are refused by triggers (migration StudyVault).
import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

export type AccessAction = 'FETCH_PAYLOAD' | 'FETCH_REPORT';
export type AccessOutcome = 'GRANTED' | 'REFUSED';

export interface AccessLogEntry {
  seq: number;
  chainId: number;
  studyId: string;
  account: string;
  action: AccessAction;
  outcome: AccessOutcome;
  /** why a request was refused (a code, never request content) */
  reason: string | null;
  atMs: number;
  prevHash: string;
  hash: string;
}

const hex = (b: Buffer) => `0x${b.toString('hex')}`;
/** A row of study_access_log. */
interface AccessLogDbRow {
  seq: string;
  chain_id: number;
  study_id: string;
  account: string;
  action: AccessAction;
  outcome: AccessOutcome;
  reason: string | null;
  at_ms: string;
  prev_hash: Buffer;
  hash: Buffer;
}

const toEntry = (r: AccessLogDbRow): AccessLogEntry => ({
  seq: Number(r.seq),
  chainId: r.chain_id,
  studyId: r.study_id,
  account: r.account,
  action: r.action,
  outcome: r.outcome,
  reason: r.reason,
  atMs: Number(r.at_ms),
  prevHash: hex(r.prev_hash),
  hash: hex(r.hash),
});

export const GENESIS_HASH = `0x${'00'.repeat(32)}`;

/** The hash the insert trigger computes (see the StudyVault migration), recomputed for verification. */
export function accessLogHash(e: Omit<AccessLogEntry, 'hash'>): string {
  const canonical = [e.seq, e.chainId, e.studyId, e.account, e.action, e.outcome, e.reason ?? '', e.atMs].join('|');
  return hex(
    createHash('sha256')
      .update(Buffer.from(e.prevHash.slice(2), 'hex'))
      .update(canonical, 'utf8')
      .digest(),
  );
}

/** The first seq at which `entries` (consecutive, from `prevHash`) break the chain, or null if it holds. */
export function firstBrokenLink(entries: AccessLogEntry[], prevHash = GENESIS_HASH): number | null {
  let prev = prevHash;
  for (const e of entries) {
    if (e.prevHash !== prev || accessLogHash(e) !== e.hash) return e.seq;
    prev = e.hash;
  }
  return null;
}

/** The append-only, hash-chained study access log. The database assigns seq and hashes; rows never change. */
@Injectable()
export class AccessLogRepository {
  constructor(private readonly db: DataSource) {}

  async append(e: {
    chainId: number;
    studyId: string;
    account: string;
    action: AccessAction;
    outcome: AccessOutcome;
    reason?: string | null;
  }): Promise<AccessLogEntry> {
    const [r] = await queryRows<AccessLogDbRow>(
      this.db,
      sql`INSERT INTO study_access_log (seq, chain_id, study_id, account, action, outcome, reason, at_ms, prev_hash, hash)
       VALUES (0, ${e.chainId}, ${e.studyId}, ${e.account}, ${e.action}, ${e.outcome}, ${e.reason ?? null}, ${Date.now()}, ''::bytea, ''::bytea) RETURNING *`,
    );
    return toEntry(r);
  }

  async forStudy(chainId: number, studyId: string): Promise<AccessLogEntry[]> {
    const rows = await queryRows<AccessLogDbRow>(
      this.db,
      sql`SELECT * FROM study_access_log WHERE chain_id = ${chainId} AND study_id = ${studyId} ORDER BY seq`,
    );
    return rows.map(toEntry);
  }

  /** Entries with seq in (afterSeq, afterSeq + limit], in order. */
  async range(afterSeq: number, limit: number): Promise<AccessLogEntry[]> {
    const rows = await queryRows<AccessLogDbRow>(
      this.db,
      sql`SELECT * FROM study_access_log WHERE seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`,
    );
    return rows.map(toEntry);
  }

  async head(): Promise<{ seq: number; hash: string } | null> {
    const [r] = await queryRows<Pick<AccessLogDbRow, 'seq' | 'hash'>>(
      this.db,
      sql`SELECT seq, hash FROM study_access_log ORDER BY seq DESC LIMIT 1`,
    );
    return r ? { seq: Number(r.seq), hash: hex(r.hash) } : null;
  }
}
