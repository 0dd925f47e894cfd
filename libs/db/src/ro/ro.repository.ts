// The RO aggregate (libs/db/src/ro): radiology_orgs, ro_members and encryption_keys are written only here (by the
// API's RO features); ro_members' partial unique index decides that a wallet is a depositor of one RO only.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { execute, queryRows, sql } from '../sql.js';

export type RoMemberRole = 'BILLING' | 'DEPOSITOR';

export interface RoRow {
  id: string;
  name: string;
  /** X25519 public key reports are sealed to, 0x-hex */
  publicKey: string;
  createdAt: Date;
}

export interface RoMemberRow {
  roId: string;
  account: string;
  role: RoMemberRole;
}

const toHex = (b: Buffer) => `0x${b.toString('hex')}`;
/** A row of radiology_orgs. */
interface RoDbRow {
  id: string;
  name: string;
  public_key: Buffer;
  created_at: Date;
}

interface RoMemberDbRow {
  ro_id: string;
  account: string;
  role: RoMemberRole;
}

const toMember = (r: RoMemberDbRow): RoMemberRow => ({ roId: r.ro_id, account: r.account, role: r.role });
const toRo = (r: RoDbRow): RoRow => ({ id: r.id, name: r.name, publicKey: toHex(r.public_key), createdAt: r.created_at });

/** Radiology organisations, their members (billing staff, depositor wallets) and accounts' encryption keys. */
@Injectable()
export class RoRepository {
  constructor(private readonly db: DataSource) {}

  /** null when an RO of that name exists on this chain */
  async create(chainId: number, name: string, publicKey: Buffer, createdBy: string): Promise<RoRow | null> {
    const [r] = await queryRows<RoDbRow>(
      this.db,
      sql`INSERT INTO radiology_orgs (chain_id, name, public_key, created_by) VALUES (${chainId}, ${name}, ${publicKey}, ${createdBy})
       ON CONFLICT ON CONSTRAINT radiology_orgs_name_unique DO NOTHING RETURNING *`,
    );
    return r ? toRo(r) : null;
  }

  async find(chainId: number, id: string): Promise<RoRow | null> {
    const [r] = await queryRows<RoDbRow>(this.db, sql`SELECT * FROM radiology_orgs WHERE chain_id = ${chainId} AND id = ${id}`);
    return r ? toRo(r) : null;
  }

  /**
   * ADDED, EXISTS (already a member in that role), or TAKEN: the wallet is already a depositor of another RO
   * (the partial unique index decides, so two concurrent adds cannot both win).
   */
  async addMember(
    chainId: number,
    roId: string,
    account: string,
    role: RoMemberRole,
    addedBy: string,
  ): Promise<'ADDED' | 'EXISTS' | 'TAKEN'> {
    // any conflict (same membership, or the depositor index) inserts nothing; then tell which one it was
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO ro_members (ro_id, chain_id, account, role, added_by) VALUES (${roId}, ${chainId}, ${account}, ${role}, ${addedBy})
       ON CONFLICT DO NOTHING RETURNING 1`,
    );
    if (rows.length) return 'ADDED';
    return (await this.isMember(roId, account, role)) ? 'EXISTS' : 'TAKEN';
  }

  async removeMember(roId: string, account: string, role: RoMemberRole): Promise<boolean> {
    const { count } = await execute(this.db, sql`DELETE FROM ro_members WHERE ro_id = ${roId} AND account = ${account} AND role = ${role}`);
    return count > 0;
  }

  async members(roId: string): Promise<RoMemberRow[]> {
    const rows = await queryRows<RoMemberDbRow>(
      this.db,
      sql`SELECT ro_id, account, role FROM ro_members WHERE ro_id = ${roId} ORDER BY role, account`,
    );
    return rows.map(toMember);
  }

  /** Every RO membership of an account. */
  async membershipsOf(chainId: number, account: string): Promise<RoMemberRow[]> {
    const rows = await queryRows<RoMemberDbRow>(
      this.db,
      sql`SELECT ro_id, account, role FROM ro_members WHERE chain_id = ${chainId} AND account = ${account}`,
    );
    return rows.map(toMember);
  }

  async isMember(roId: string, account: string, role: RoMemberRole): Promise<boolean> {
    const [r] = await queryRows<{ m: boolean }>(
      this.db,
      sql`SELECT EXISTS (SELECT 1 FROM ro_members WHERE ro_id = ${roId} AND account = ${account} AND role = ${role}) AS m`,
    );
    return r.m;
  }

  /** The RO a depositor wallet posts for, if any. */
  async roOfDepositor(chainId: number, account: string): Promise<RoRow | null> {
    const [r] = await queryRows<RoDbRow>(
      this.db,
      sql`SELECT o.* FROM ro_members m JOIN radiology_orgs o ON o.id = m.ro_id
       WHERE m.chain_id = ${chainId} AND m.account = ${account} AND m.role = 'DEPOSITOR'`,
    );
    return r ? toRo(r) : null;
  }

  /** Registers (or rotates) an account's X25519 public key with its binding (the account's EIP-712 signature). */
  async setEncryptionKey(chainId: number, account: string, publicKey: Buffer, binding: string): Promise<void> {
    await queryRows(
      this.db,
      sql`INSERT INTO encryption_keys (chain_id, account, public_key, binding) VALUES (${chainId}, ${account}, ${publicKey}, ${binding})
       ON CONFLICT ON CONSTRAINT encryption_keys_pk DO UPDATE SET public_key = EXCLUDED.public_key, binding = EXCLUDED.binding, registered_at = now()`,
    );
  }

  /** An account's key, 0x-hex, and its binding (null for a key registered before bindings existed). */
  async encryptionKeyOf(chainId: number, account: string): Promise<{ publicKey: string; binding: string | null } | null> {
    const [r] = await queryRows<{ public_key: Buffer; binding: string | null }>(
      this.db,
      sql`SELECT public_key, binding FROM encryption_keys WHERE chain_id = ${chainId} AND account = ${account}`,
    );
    return r ? { publicKey: toHex(r.public_key), binding: r.binding } : null;
  }
}
