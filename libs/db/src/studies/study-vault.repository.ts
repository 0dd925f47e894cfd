import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

export interface PostingRow {
  studyId: string;
  roId: string;
  bodyPart: string;
  preparedBy: string;
}

export interface LeaseRow {
  studyId: string;
  radiologist: string;
  recipientKey: string;
  wrappedKey: Buffer;
  issuedAt: number;
  expiresAt: number;
  signer: string;
  signature: string;
  /** the RO's report key the lease signs, 0x-hex; null for leases signed before leases carried it */
  reportKey: string | null;
  /** the claim's chain time, signed in the terms; null for leases that re-wrapped the study key (never served) */
  claimedAt: number | null;
  /** this claim's copy of the study under its own lease key; null for leases that re-wrapped the study key */
  ciphertext: Buffer | null;
}

/** A claim the RO still has to issue a lease for: the claimant's key and the RO's own copy of the study key. */
export interface PendingLeaseRow {
  studyId: string;
  radiologist: string;
  recipientKey: string | null;
  /** the claimant's EIP-712 signature binding recipientKey to their address; null if they registered none */
  recipientKeyBinding: string | null;
  leaseExpiresAt: number;
  /** the claim's chain time (indexed from StudyClaimed) */
  claimedAt: number;
  keyForRo: Buffer;
}

const hex = (b: Buffer) => `0x${b.toString('hex')}`;
/** A row of study_leases. */
interface LeaseDbRow {
  study_id: string;
  radiologist: string;
  recipient_key: Buffer;
  wrapped_key: Buffer;
  issued_at: string;
  expires_at: string;
  signer: string;
  signature: string;
  report_key: Buffer | null;
  claimed_at: string | null;
  ciphertext: Buffer | null;
}

const toLease = (r: LeaseDbRow): LeaseRow => ({
  studyId: r.study_id,
  radiologist: r.radiologist,
  recipientKey: hex(r.recipient_key),
  wrappedKey: r.wrapped_key,
  issuedAt: Number(r.issued_at),
  expiresAt: Number(r.expires_at),
  signer: r.signer,
  signature: r.signature,
  reportKey: r.report_key ? hex(r.report_key) : null,
  claimedAt: r.claimed_at === null ? null : Number(r.claimed_at),
  ciphertext: r.ciphertext,
});

/** Postings, encrypted payloads, leases and encrypted reports (see the StudyVault migration). Ciphertext only. */
@Injectable()
export class StudyVaultRepository {
  constructor(private readonly db: DataSource) {}

  /** Records a study ID the API generated for an RO. false if the ID exists (a 2^-256 event, or a bug). */
  async createPosting(chainId: number, p: PostingRow): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO study_postings (chain_id, study_id, ro_id, body_part, prepared_by) VALUES (${chainId}, ${p.studyId}, ${p.roId}, ${p.bodyPart}, ${p.preparedBy})
       ON CONFLICT ON CONSTRAINT study_postings_pk DO NOTHING RETURNING 1`,
    );
    return rows.length === 1;
  }

  async posting(chainId: number, studyId: string): Promise<PostingRow | null> {
    const [r] = await queryRows<{ study_id: string; ro_id: string; body_part: string; prepared_by: string }>(
      this.db,
      sql`SELECT * FROM study_postings WHERE chain_id = ${chainId} AND study_id = ${studyId}`,
    );
    return r ? { studyId: r.study_id, roId: r.ro_id, bodyPart: r.body_part, preparedBy: r.prepared_by } : null;
  }

  /** false if the study already has a payload (payloads are write-once). */
  async storePayload(
    chainId: number,
    studyId: string,
    ciphertext: Buffer,
    sha256: Buffer,
    keyForRo: Buffer,
    uploadedBy: string,
  ): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO study_payloads (chain_id, study_id, ciphertext, sha256, key_for_ro, uploaded_by) VALUES (${chainId}, ${studyId}, ${ciphertext}, ${sha256}, ${keyForRo}, ${uploadedBy})
       ON CONFLICT ON CONSTRAINT study_payloads_pk DO NOTHING RETURNING 1`,
    );
    return rows.length === 1;
  }

  /** The RO's own copy: the envelope under the study key and the study key sealed to the RO's key. */
  async payload(chainId: number, studyId: string): Promise<{ ciphertext: Buffer; sha256: Buffer; keyForRo: Buffer } | null> {
    const [r] = await queryRows<{ ciphertext: Buffer; sha256: Buffer; key_for_ro: Buffer }>(
      this.db,
      sql`SELECT ciphertext, sha256, key_for_ro FROM study_payloads WHERE chain_id = ${chainId} AND study_id = ${studyId}`,
    );
    return r ? { ciphertext: r.ciphertext, sha256: r.sha256, keyForRo: r.key_for_ro } : null;
  }

  /**
   * false if a package for this claim (study, radiologist, expiry) exists already. A lease from before claim-lease
   * packages (no ciphertext) for the same claim is replaced.
   */
  async insertLease(chainId: number, l: LeaseRow & { claimedAt: number; ciphertext: Buffer }): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO study_leases (chain_id, study_id, radiologist, recipient_key, wrapped_key, issued_at, expires_at, signer, signature, report_key, claimed_at, ciphertext)
       VALUES (${chainId}, ${l.studyId}, ${l.radiologist}, ${Buffer.from(l.recipientKey.slice(2), 'hex')}, ${l.wrappedKey}, ${l.issuedAt}, ${l.expiresAt}, ${l.signer}, ${l.signature}, ${l.reportKey === null ? null : Buffer.from(l.reportKey.slice(2), 'hex')}, ${l.claimedAt}, ${l.ciphertext})
       ON CONFLICT ON CONSTRAINT study_leases_claim_unique DO UPDATE SET recipient_key = EXCLUDED.recipient_key,
         wrapped_key = EXCLUDED.wrapped_key, issued_at = EXCLUDED.issued_at, signer = EXCLUDED.signer, signature = EXCLUDED.signature,
         report_key = EXCLUDED.report_key, claimed_at = EXCLUDED.claimed_at, ciphertext = EXCLUDED.ciphertext, created_at = now()
       WHERE study_leases.ciphertext IS NULL
       RETURNING 1`,
    );
    return rows.length === 1;
  }

  /** The lease of one claim. */
  async lease(chainId: number, studyId: string, radiologist: string, expiresAt: number): Promise<LeaseRow | null> {
    const [r] = await queryRows<LeaseDbRow>(
      this.db,
      sql`SELECT * FROM study_leases WHERE chain_id = ${chainId} AND study_id = ${studyId} AND radiologist = ${radiologist} AND expires_at = ${expiresAt}`,
    );
    return r ? toLease(r) : null;
  }

  /** The newest lease a radiologist holds on a study (valid or not). */
  async latestLease(chainId: number, studyId: string, radiologist: string): Promise<LeaseRow | null> {
    const [r] = await queryRows<LeaseDbRow>(
      this.db,
      sql`SELECT * FROM study_leases WHERE chain_id = ${chainId} AND study_id = ${studyId} AND radiologist = ${radiologist} ORDER BY expires_at DESC LIMIT 1`,
    );
    return r ? toLease(r) : null;
  }

  /** Live claims on an RO's studies (indexed) that have a payload but no claim-lease package yet, as of chain time `now`. */
  async pendingLeases(chainId: number, roId: string, now: number): Promise<PendingLeaseRow[]> {
    const rows = await queryRows<{
      study_id: string;
      radiologist: string;
      lease_expires_at: string;
      claimed_at: string;
      public_key: Buffer | null;
      binding: string | null;
      key_for_ro: Buffer;
    }>(
      this.db,
      sql`SELECT s.study_id, s.radiologist, s.lease_expires_at, s.claimed_at, k.public_key, k.binding, pl.key_for_ro
       FROM study_postings p
       JOIN studies s ON s.chain_id = p.chain_id AND s.study_id = p.study_id
       JOIN study_payloads pl ON pl.chain_id = p.chain_id AND pl.study_id = p.study_id
       LEFT JOIN encryption_keys k ON k.chain_id = s.chain_id AND k.account = s.radiologist
       WHERE p.chain_id = ${chainId} AND p.ro_id = ${roId} AND s.status = 'CLAIMED' AND s.lease_expires_at >= ${now}
         AND NOT EXISTS (SELECT 1 FROM study_leases l WHERE l.chain_id = s.chain_id AND l.study_id = s.study_id
                         AND l.radiologist = s.radiologist AND l.expires_at = s.lease_expires_at AND l.ciphertext IS NOT NULL)
       ORDER BY s.lease_expires_at`,
    );
    return rows.map((r) => ({
      studyId: r.study_id,
      radiologist: r.radiologist,
      recipientKey: r.public_key ? hex(r.public_key) : null,
      recipientKeyBinding: r.binding,
      leaseExpiresAt: Number(r.lease_expires_at),
      claimedAt: Number(r.claimed_at),
      keyForRo: r.key_for_ro,
    }));
  }

  /**
   * Stores a claimant's report for one claim (the claim's lease expiry on chain): 'STORED', 'SAME' if this exact
   * report is stored already (a retry), 'OTHER' if another report of this claim is: one report per claim.
   */
  async storeReport(
    chainId: number,
    studyId: string,
    reportHash: string,
    radiologist: string,
    ciphertext: Buffer,
    claimExpiresAt: number,
  ): Promise<'STORED' | 'SAME' | 'OTHER'> {
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO study_reports (chain_id, study_id, report_hash, radiologist, ciphertext, claim_expires_at)
       VALUES (${chainId}, ${studyId}, ${reportHash}, ${radiologist}, ${ciphertext}, ${claimExpiresAt})
       ON CONFLICT DO NOTHING RETURNING 1`,
    );
    if (rows.length === 1) return 'STORED';
    const [same] = await queryRows(
      this.db,
      sql`SELECT 1 FROM study_reports WHERE chain_id = ${chainId} AND study_id = ${studyId} AND report_hash = ${reportHash}
       AND radiologist = ${radiologist}`,
    );
    return same ? 'SAME' : 'OTHER';
  }

  /** Postings an RO prepared since `since` that are not (yet) indexed on chain. */
  async unpostedCount(chainId: number, roId: string, since: Date): Promise<number> {
    const [r] = await queryRows<{ n: number }>(
      this.db,
      sql`SELECT count(*)::int AS n FROM study_postings p
       WHERE p.ro_id = ${roId} AND p.chain_id = ${chainId} AND p.prepared_at > ${since}
         AND NOT EXISTS (SELECT 1 FROM studies s WHERE s.chain_id = p.chain_id AND s.study_id = p.study_id)`,
    );
    return r.n;
  }

  /** Payload bytes an RO keeps stored for studies not settled or cancelled (or never posted on chain). */
  async livePayloadBytes(chainId: number, roId: string): Promise<number> {
    const [r] = await queryRows<{ bytes: string }>(
      this.db,
      sql`SELECT coalesce(sum(octet_length(pl.ciphertext)), 0)::bigint AS bytes
       FROM study_postings p
       JOIN study_payloads pl ON pl.chain_id = p.chain_id AND pl.study_id = p.study_id
       LEFT JOIN studies s ON s.chain_id = p.chain_id AND s.study_id = p.study_id
       WHERE p.ro_id = ${roId} AND p.chain_id = ${chainId} AND (s.status IS NULL OR s.status NOT IN ('SETTLED', 'CANCELLED'))`,
    );
    return Number(r.bytes);
  }

  async report(chainId: number, studyId: string, reportHash: string): Promise<{ radiologist: string; ciphertext: Buffer } | null> {
    const [r] = await queryRows<{ radiologist: string; ciphertext: Buffer }>(
      this.db,
      sql`SELECT radiologist, ciphertext FROM study_reports WHERE chain_id = ${chainId} AND study_id = ${studyId} AND report_hash = ${reportHash}`,
    );
    return r ? { radiologist: r.radiologist, ciphertext: r.ciphertext } : null;
  }
}
