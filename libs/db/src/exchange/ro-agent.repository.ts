// What an RO agent (apps/ro-agent) reads of the platform's database besides its lease packages: the refused lease
// fetches after expiry of study_access_log (written by the API's exchange feature, append-only) joined with the
// indexed exchange_leases and exchange_ro_accounts (written only by the indexer's exchange projection). This
// repository only reads; the agent's answer goes to the chain (StudyCustody.recordExpiredUse), never to a table.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

/**
 * A fetch the API refused with LEASE_EXPIRED on a study `custodian` holds, with a lease it may have been for: the
 * access-log row names the study and the account, not the lease, so every granted lease of that study to the RO
 * the account acts for is a candidate (newest first, one row each); the agent keeps the newest one that is expired on chain.
 */
export interface ExpiredFetchRow {
  /** the access-log row's sequence number (the agent's cursor) */
  seq: number;
  studyId: string;
  /** the wallet that tried */
  account: string;
  /** null: no granted lease of the study to an RO the account acts for (the row is passed over) */
  leaseId: bigint | null;
}

@Injectable()
export class RoAgentRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * LEASE_EXPIRED fetches after access-log row `afterSeq` of studies whose leases `custodian` answered, each with its
   * candidate leases (one row per candidate), in log order; at most `limit` log rows.
   */
  async expiredFetches(chainId: number, custodian: string, afterSeq: number, limit: number): Promise<ExpiredFetchRow[]> {
    const rows = await queryRows<{ seq: string; study_id: string; account: string; lease_id: string | null }>(
      this.db,
      sql`WITH refused AS (
         SELECT a.seq, a.study_id, a.account FROM study_access_log a
         WHERE a.chain_id = ${chainId} AND a.seq > ${afterSeq} AND a.action = 'FETCH_LEASE' AND a.outcome = 'REFUSED'
           AND a.reason = 'LEASE_EXPIRED'
           AND EXISTS (SELECT 1 FROM exchange_leases x
                       WHERE x.chain_id = a.chain_id AND x.study_id = a.study_id AND x.custodian = ${custodian.toLowerCase()})
         ORDER BY a.seq LIMIT ${limit})
       SELECT r.seq::text, r.study_id, r.account, l.lease_id::text
       FROM refused r
       LEFT JOIN exchange_leases l ON l.chain_id = ${chainId} AND l.study_id = r.study_id AND l.custodian = ${custodian.toLowerCase()}
         AND l.expires_at IS NOT NULL
         AND (l.requester = r.account OR EXISTS (SELECT 1 FROM exchange_ro_accounts ra
              WHERE ra.chain_id = l.chain_id AND ra.account = r.account AND ra.ro = l.requester))
       ORDER BY r.seq, l.lease_id DESC`,
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      studyId: r.study_id,
      account: r.account,
      leaseId: r.lease_id === null ? null : BigInt(r.lease_id),
    }));
  }
}
