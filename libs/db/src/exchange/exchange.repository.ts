// The exchange aggregate (libs/db/src/exchange): exchange_ros, exchange_ro_accounts, exchange_ro_keys,
// exchange_custody, exchange_custody_history, exchange_leases, exchange_expired_uses, exchange_misuse_reports and
// exchange_flags are written only by the indexer's projection of RoDirectory and StudyCustody
// (apps/indexer/src/store/projections/exchange.projection.ts); this repository only reads them.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type Sql, queryRows, sql } from '../sql.js';

/** A lease's state: EXPIRED is never stored, it is a GRANTED or RENEWED lease past its expiry by the indexed chain time. */
export type ExchangeLeaseStatus = 'REQUESTED' | 'GRANTED' | 'DENIED' | 'CANCELLED' | 'RENEWED' | 'EXPIRED';

export interface ExchangeRoRow {
  ro: string;
  admittedBy: string;
  admittedAt: number;
  suspended: boolean;
  /** accounts acting for the RO now (the principal included) */
  accounts: string[];
}

export interface ExchangeKeyRow {
  keyId: string;
  ro: string;
  encryptionKey: string;
  signer: string;
  addedAt: number;
  revokedAt: number | null;
  /** the key that replaced it by a rotation */
  replacedBy: string | null;
}

export interface ExchangeLeaseRow {
  leaseId: string;
  studyId: string;
  requester: string;
  /** who answered it, or (still requested) the study's current custodian, who will */
  custodian: string;
  keyId: string;
  periodSeconds: number;
  fee: bigint;
  maxRenewals: number;
  renewalsLeft: number;
  renewals: number;
  status: ExchangeLeaseStatus;
  requestedAt: number;
  answeredAt: number | null;
  expiresAt: number | null;
  wrappedKeyHash: string | null;
  ciphertextHash: string | null;
  refund: bigint | null;
  paidToCustodian: bigint;
  protocolFees: bigint;
  storageShare: bigint;
  expiredUses: number;
  misuseReported: boolean;
}

export interface ExchangeCustodyRow {
  studyId: string;
  ro: string;
  manifestHash: string;
  registeredAt: number;
  /** block time of the patient's revocation (CustodyRevoked), or null while custody stands */
  revokedAt: number | null;
  history: { ro: string; fromRo: string | null; by: string | null; txHash: string; blockNumber: number; at: number }[];
}

interface LeaseDbRow {
  lease_id: string;
  study_id: string;
  requester: string;
  custodian: string;
  key_id: string;
  period: string;
  fee: string;
  max_renewals: number;
  renewals_left: number;
  renewals: number;
  status: ExchangeLeaseStatus;
  requested_at: string;
  answered_at: string | null;
  expires_at: string | null;
  wrapped_key_hash: string | null;
  ciphertext_hash: string | null;
  refund: string | null;
  paid_to_custodian: string;
  protocol_fees: string;
  storage_share: string;
  expired_uses: number;
  misuse_reported: boolean;
}

const n = (v: string | null) => (v === null ? null : Number(v));
const big = (v: string | null) => (v === null ? null : BigInt(v));

const toLease = (r: LeaseDbRow): ExchangeLeaseRow => ({
  leaseId: r.lease_id,
  studyId: r.study_id,
  requester: r.requester,
  custodian: r.custodian,
  keyId: r.key_id,
  periodSeconds: Number(r.period),
  fee: BigInt(r.fee),
  maxRenewals: r.max_renewals,
  renewalsLeft: r.renewals_left,
  renewals: r.renewals,
  status: r.status,
  requestedAt: Number(r.requested_at),
  answeredAt: n(r.answered_at),
  expiresAt: n(r.expires_at),
  wrappedKeyHash: r.wrapped_key_hash,
  ciphertextHash: r.ciphertext_hash,
  refund: big(r.refund),
  paidToCustodian: BigInt(r.paid_to_custodian),
  protocolFees: BigInt(r.protocol_fees),
  storageShare: BigInt(r.storage_share),
  expiredUses: r.expired_uses,
  misuseReported: r.misuse_reported,
});

/** The imaging exchange as indexed: the RO directory, custody of studies, leases. */
/** A lease's columns as {@link ExchangeRepository.leases} answers them; EXPIRED by the indexed chain time. */
const leaseSelect = (chainId: number, custodian: Sql) =>
  sql`WITH now AS (SELECT max(block_time) AS t FROM indexer_checkpoints WHERE chain_id = ${chainId})
       SELECT l.lease_id::text, l.study_id, l.requester, ${custodian} AS custodian, l.key_id::text, l.period, l.fee::text, l.max_renewals,
              l.renewals_left, l.renewals,
              CASE WHEN l.status IN ('GRANTED', 'RENEWED') AND l.expires_at < (SELECT t FROM now) THEN 'EXPIRED' ELSE l.status END AS status,
              l.requested_at, l.answered_at, l.expires_at, l.wrapped_key_hash, l.ciphertext_hash, l.refund::text,
              l.paid_to_custodian::text, l.protocol_fees::text, l.storage_share::text,
              (SELECT count(*)::int FROM exchange_expired_uses u WHERE u.chain_id = l.chain_id AND u.lease_id = l.lease_id) AS expired_uses,
              EXISTS (SELECT 1 FROM exchange_misuse_reports m WHERE m.chain_id = l.chain_id AND m.lease_id = l.lease_id) AS misuse_reported
       FROM exchange_leases l
       JOIN exchange_custody c ON c.chain_id = l.chain_id AND c.study_id = l.study_id`;

@Injectable()
export class ExchangeRepository {
  constructor(private readonly db: DataSource) {}

  /** Every admitted RO with its current accounts, by principal account. */
  async directory(chainId: number): Promise<ExchangeRoRow[]> {
    const rows = await queryRows<{ ro: string; admitted_by: string; admitted_at: string; suspended: boolean; accounts: string[] }>(
      this.db,
      sql`SELECT r.ro, r.admitted_by, r.admitted_at, r.suspended,
              coalesce(array_agg(a.account::text ORDER BY a.account) FILTER (WHERE a.account IS NOT NULL), '{}'::text[]) AS accounts
       FROM exchange_ros r
       LEFT JOIN exchange_ro_accounts a ON a.chain_id = r.chain_id AND a.ro = r.ro AND a.removed_block IS NULL
       WHERE r.chain_id = ${chainId}
       GROUP BY r.ro, r.admitted_by, r.admitted_at, r.suspended
       ORDER BY r.ro`,
    );
    return rows.map((r) => ({
      ro: r.ro,
      admittedBy: r.admitted_by,
      admittedAt: Number(r.admitted_at),
      suspended: r.suspended,
      accounts: r.accounts,
    }));
  }

  /** Every key `ro` registered, revoked ones included, in key ID order. */
  async keysOf(chainId: number, ro: string): Promise<ExchangeKeyRow[]> {
    const rows = await queryRows<{
      key_id: string;
      ro: string;
      encryption_key: string;
      signer: string;
      added_at: string;
      revoked_at: string | null;
      replaced_by: string | null;
    }>(
      this.db,
      sql`SELECT key_id::text, ro, encryption_key, signer, added_at, revoked_at, replaced_by::text FROM exchange_ro_keys
       WHERE chain_id = ${chainId} AND ro = ${ro} ORDER BY key_id`,
    );
    return rows.map((r) => ({
      keyId: r.key_id,
      ro: r.ro,
      encryptionKey: r.encryption_key,
      signer: r.signer,
      addedAt: Number(r.added_at),
      revokedAt: n(r.revoked_at),
      replacedBy: r.replaced_by,
    }));
  }

  /** The exchange ROs (principal accounts) that any of `accounts` acts for now. */
  async rosOfAccounts(chainId: number, accounts: string[]): Promise<string[]> {
    const rows = await queryRows<{ ro: string }>(
      this.db,
      sql`SELECT DISTINCT ro FROM exchange_ro_accounts
       WHERE chain_id = ${chainId} AND account = ANY(${accounts}::text[]) AND removed_block IS NULL ORDER BY ro`,
    );
    return rows.map((r) => r.ro);
  }

  /**
   * Leases where one of `ros` is the requester or the custodian (`side` ANY), or only the custodian's requests still
   * waiting for an answer (`side` INCOMING: the study's current custodian answers them). Newest first.
   */
  async leases(chainId: number, ros: string[], side: 'ANY' | 'INCOMING', limit: number): Promise<ExchangeLeaseRow[]> {
    const custodian = sql`coalesce(l.custodian, c.ro)`;
    const mine =
      side === 'ANY'
        ? sql`(l.requester = ANY(${ros}::text[]) OR ${custodian} = ANY(${ros}::text[]))`
        : sql`l.status = 'REQUESTED' AND c.ro = ANY(${ros}::text[])`;
    const rows = await queryRows<LeaseDbRow>(
      this.db,
      sql`${leaseSelect(chainId, custodian)}
       WHERE l.chain_id = ${chainId} AND ${mine}
       ORDER BY l.lease_id DESC
       LIMIT ${limit}`,
    );
    return rows.map(toLease);
  }

  /** One lease by its ID (EXPIRED derived as in {@link leases}), or null if the index has none. */
  async lease(chainId: number, leaseId: bigint): Promise<ExchangeLeaseRow | null> {
    const [r] = await queryRows<LeaseDbRow>(
      this.db,
      sql`${leaseSelect(chainId, sql`coalesce(l.custodian, c.ro)`)}
       WHERE l.chain_id = ${chainId} AND l.lease_id = ${leaseId.toString()}`,
    );
    return r ? toLease(r) : null;
  }

  /** The custody of a registered study with every owner it had (oldest first), or null. */
  async custodyOf(chainId: number, studyId: string): Promise<ExchangeCustodyRow | null> {
    const [r] = await queryRows<{
      study_id: string;
      ro: string;
      manifest_hash: string;
      registered_at: string;
      revoked_at: string | null;
      history: {
        ro: string;
        from_ro: string | null;
        by_account: string | null;
        tx_hash: string;
        block_number: number;
        block_time: number;
      }[];
    }>(
      this.db,
      sql`SELECT c.study_id, c.ro, c.manifest_hash, c.registered_at, c.revoked_at,
              (SELECT json_agg(json_build_object('ro', h.ro, 'from_ro', h.from_ro, 'by_account', h.by_account, 'tx_hash', h.tx_hash,
                                                 'block_number', h.block_number, 'block_time', h.block_time)
                               ORDER BY h.block_number, h.log_index)
               FROM exchange_custody_history h WHERE h.chain_id = c.chain_id AND h.study_id = c.study_id) AS history
       FROM exchange_custody c WHERE c.chain_id = ${chainId} AND c.study_id = ${studyId}`,
    );
    if (!r) return null;
    return {
      studyId: r.study_id,
      ro: r.ro,
      manifestHash: r.manifest_hash,
      registeredAt: Number(r.registered_at),
      revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
      history: (r.history ?? []).map((h) => ({
        ro: h.ro,
        fromRo: h.from_ro,
        by: h.by_account,
        txHash: h.tx_hash,
        blockNumber: Number(h.block_number),
        at: Number(h.block_time),
      })),
    };
  }

  /** Misuse reports against each of `accounts` (the chain's count) and whether it is flagged for review now. */
  async misuseOf(chainId: number, accounts: string[]): Promise<{ account: string; reports: number; flagged: boolean }[]> {
    const rows = await queryRows<{ account: string; reports: number; flagged: boolean }>(
      this.db,
      sql`SELECT a.account, coalesce((SELECT max(m.count) FROM exchange_misuse_reports m WHERE m.chain_id = ${chainId} AND m.account = a.account), 0)::int AS reports,
              coalesce((SELECT f.flagged FROM exchange_flags f WHERE f.chain_id = ${chainId} AND f.account = a.account), false) AS flagged
       FROM unnest(${accounts}::text[]) AS a(account) ORDER BY a.account`,
    );
    return rows;
  }
}
