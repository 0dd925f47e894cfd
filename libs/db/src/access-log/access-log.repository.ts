// The access-log aggregate (libs/db/src/access-log): study_access_log is insert-only through append(); seq,
// prev_hash, hash and salt are set by the BEFORE INSERT trigger study_access_log_chain, and UPDATE, DELETE and
// TRUNCATE are refused by triggers (migrations StudyVault, AccessLogMerkle). access_log_anchors is written by the
// worker's AccessLogAnchorService (recordAnchors), from the AccessLogAnchored events of the chain.
import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { execute, queryRows, sql } from '../sql.js';

/** FETCH_LEASE: an exchange lease package (the API's leasedStudy) */
export type AccessAction = 'FETCH_PAYLOAD' | 'FETCH_REPORT' | 'FETCH_LEASE';
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
  /** 32 random bytes (0x-hex) the entry's Merkle leaf commits to (libs/lease accessLogLeaf) */
  salt: string;
}

/** One anchor on chain: entries fromSeq..seq, the chain hash of entry seq (head) and their Merkle root. */
export interface AccessLogAnchorRow {
  seq: number;
  fromSeq: number;
  head: string;
  root: string;
  blockNumber: number;
  txHash: string;
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
  salt: Buffer;
}

/** A row of access_log_anchors. */
interface AnchorDbRow {
  seq: string;
  from_seq: string;
  head: string;
  root: string;
  block_number: string;
  tx_hash: string;
}

const toAnchor = (r: AnchorDbRow): AccessLogAnchorRow => ({
  seq: Number(r.seq),
  fromSeq: Number(r.from_seq),
  head: r.head,
  root: r.root,
  blockNumber: Number(r.block_number),
  txHash: r.tx_hash,
});

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
  salt: hex(r.salt),
});

export const GENESIS_HASH = `0x${'00'.repeat(32)}`;

/** The hash the insert trigger computes (see the StudyVault migration), recomputed for verification. */
export function accessLogHash(e: Omit<AccessLogEntry, 'hash' | 'salt'>): string {
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

  /** Entries with seq in [fromSeq, toSeq], in order (one anchor's entries). */
  async between(fromSeq: number, toSeq: number): Promise<AccessLogEntry[]> {
    const rows = await queryRows<AccessLogDbRow>(
      this.db,
      sql`SELECT * FROM study_access_log WHERE seq BETWEEN ${fromSeq} AND ${toSeq} ORDER BY seq`,
    );
    return rows.map(toEntry);
  }

  /** Records anchors read from the chain (again is a no-op). */
  async recordAnchors(chainId: number, anchors: AccessLogAnchorRow[]): Promise<void> {
    if (!anchors.length) return;
    await execute(
      this.db,
      sql`INSERT INTO access_log_anchors (chain_id, seq, from_seq, head, root, block_number, tx_hash)
       SELECT ${chainId}::int, * FROM unnest(${anchors.map((a) => a.seq)}::bigint[], ${anchors.map((a) => a.fromSeq)}::bigint[],
         ${anchors.map((a) => a.head)}::text[], ${anchors.map((a) => a.root)}::text[], ${anchors.map((a) => a.blockNumber)}::bigint[],
         ${anchors.map((a) => a.txHash)}::text[])
       ON CONFLICT ON CONSTRAINT access_log_anchors_pk DO NOTHING`,
    );
  }

  /** Recorded anchors with seq > afterSeq, oldest first. */
  async anchors(chainId: number, afterSeq: number, limit: number): Promise<AccessLogAnchorRow[]> {
    const rows = await queryRows<AnchorDbRow>(
      this.db,
      sql`SELECT seq, from_seq, head, root, block_number, tx_hash FROM access_log_anchors
       WHERE chain_id = ${chainId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`,
    );
    return rows.map(toAnchor);
  }

  /** The latest recorded anchor, if any. */
  async lastAnchor(chainId: number): Promise<AccessLogAnchorRow | null> {
    const [r] = await queryRows<AnchorDbRow>(
      this.db,
      sql`SELECT seq, from_seq, head, root, block_number, tx_hash FROM access_log_anchors WHERE chain_id = ${chainId} ORDER BY seq DESC LIMIT 1`,
    );
    return r ? toAnchor(r) : null;
  }

  /** The recorded anchors that cover any of `seqs`. */
  async anchorsCovering(chainId: number, seqs: number[]): Promise<AccessLogAnchorRow[]> {
    const rows = await queryRows<AnchorDbRow>(
      this.db,
      sql`SELECT DISTINCT a.seq, a.from_seq, a.head, a.root, a.block_number, a.tx_hash
       FROM access_log_anchors a JOIN unnest(${seqs}::bigint[]) AS s(seq) ON s.seq BETWEEN a.from_seq AND a.seq
       WHERE a.chain_id = ${chainId} ORDER BY a.seq`,
    );
    return rows.map(toAnchor);
  }

  async head(): Promise<{ seq: number; hash: string } | null> {
    const [r] = await queryRows<Pick<AccessLogDbRow, 'seq' | 'hash'>>(
      this.db,
      sql`SELECT seq, hash FROM study_access_log ORDER BY seq DESC LIMIT 1`,
    );
    return r ? { seq: Number(r.seq), hash: hex(r.hash) } : null;
  }
}
