// The lease-packages aggregate (libs/db/src/lease-packages): lease_packages is written by an RO agent (the
// RoAgent of #lease through this repository): storeSealed inserts the sealed half of a lease it is about to grant,
// sign adds the expiry LeaseGranted recorded and the signature once; nothing updates or deletes a signed row.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

/** One lease's package as stored: ciphertext only (the lease key is sealed to the requester's key). */
export interface LeasePackageRow {
  leaseId: bigint;
  studyId: string;
  requester: string;
  custodian: string;
  recipientKeyId: bigint;
  signerKeyId: bigint;
  issuedAt: bigint;
  ciphertext: Buffer;
  wrappedKey: Buffer;
  /** null until the agent signed (after the grant) */
  expiresAt: bigint | null;
  /** 0x-hex EIP-712 signature, null until signed */
  signature: string | null;
}

interface LeasePackageDbRow {
  lease_id: string;
  study_id: string;
  requester: string;
  custodian: string;
  recipient_key_id: string;
  signer_key_id: string;
  issued_at: string;
  ciphertext: Buffer;
  wrapped_key: Buffer;
  expires_at: string | null;
  signature: Buffer | null;
}

const toRow = (r: LeasePackageDbRow): LeasePackageRow => ({
  leaseId: BigInt(r.lease_id),
  studyId: r.study_id,
  requester: r.requester,
  custodian: r.custodian,
  recipientKeyId: BigInt(r.recipient_key_id),
  signerKeyId: BigInt(r.signer_key_id),
  issuedAt: BigInt(r.issued_at),
  ciphertext: r.ciphertext,
  wrappedKey: r.wrapped_key,
  expiresAt: r.expires_at === null ? null : BigInt(r.expires_at),
  signature: r.signature === null ? null : `0x${r.signature.toString('hex')}`,
});

const lower = (s: string) => s.toLowerCase();

@Injectable()
export class LeasePackageRepository {
  constructor(private readonly db: DataSource) {}

  /** Stores the sealed half of a lease; false if the lease already has a package (the caller reuses that one). */
  async storeSealed(chainId: number, p: Omit<LeasePackageRow, 'expiresAt' | 'signature'>): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO lease_packages (chain_id, lease_id, study_id, requester, custodian, recipient_key_id, signer_key_id, issued_at, ciphertext, wrapped_key)
       VALUES (${chainId}, ${p.leaseId.toString()}, ${lower(p.studyId)}, ${lower(p.requester)}, ${lower(p.custodian)}, ${p.recipientKeyId.toString()}, ${p.signerKeyId.toString()}, ${p.issuedAt.toString()}, ${p.ciphertext}, ${p.wrappedKey})
       ON CONFLICT ON CONSTRAINT lease_packages_pk DO NOTHING RETURNING 1`,
    );
    return rows.length === 1;
  }

  /** Adds the expiry and the signature to a sealed package, once; false if it is missing or already signed. */
  async sign(chainId: number, leaseId: bigint, expiresAt: bigint, signature: string): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`UPDATE lease_packages SET expires_at = ${expiresAt.toString()}, signature = ${Buffer.from(signature.replace(/^0x/, ''), 'hex')}, signed_at = now()
       WHERE chain_id = ${chainId} AND lease_id = ${leaseId.toString()} AND signature IS NULL RETURNING 1`,
    );
    return rows.length === 1;
  }

  /** A lease's package, signed or not (null: none stored). */
  async package(chainId: number, leaseId: bigint): Promise<LeasePackageRow | null> {
    const [r] = await queryRows<LeasePackageDbRow>(
      this.db,
      sql`SELECT lease_id, study_id, requester, custodian, recipient_key_id, signer_key_id, issued_at, ciphertext, wrapped_key, expires_at, signature
       FROM lease_packages WHERE chain_id = ${chainId} AND lease_id = ${leaseId.toString()}`,
    );
    return r ? toRow(r) : null;
  }
}
