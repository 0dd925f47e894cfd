import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

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
const toRo = (r: Record<string, any>): RoRow => ({ id: r.id, name: r.name, publicKey: toHex(r.public_key), createdAt: r.created_at });

/** Radiology organisations, their members (billing staff, depositor wallets) and accounts' encryption keys. */
@Injectable()
export class RoRepository {
  constructor(private readonly db: DataSource) {}

  /** null when an RO of that name exists on this chain */
  async create(chainId: number, name: string, publicKey: Buffer, createdBy: string): Promise<RoRow | null> {
    const [r] = await this.db.query(
      `INSERT INTO radiology_orgs (chain_id, name, public_key, created_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT ON CONSTRAINT radiology_orgs_name_unique DO NOTHING RETURNING *`,
      [chainId, name, publicKey, createdBy],
    );
    return r ? toRo(r) : null;
  }

  async find(chainId: number, id: string): Promise<RoRow | null> {
    const [r] = await this.db.query(`SELECT * FROM radiology_orgs WHERE chain_id = $1 AND id = $2`, [chainId, id]);
    return r ? toRo(r) : null;
  }

  /**
   * ADDED, EXISTS (already a member in that role), or TAKEN: the wallet is already a depositor of another RO
   * (the partial unique index decides, so two concurrent adds cannot both win).
   */
  async addMember(chainId: number, roId: string, account: string, role: RoMemberRole, addedBy: string): Promise<'ADDED' | 'EXISTS' | 'TAKEN'> {
    // any conflict (same membership, or the depositor index) inserts nothing; then tell which one it was
    const rows = await this.db.query(
      `INSERT INTO ro_members (ro_id, chain_id, account, role, added_by) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING RETURNING 1`,
      [roId, chainId, account, role, addedBy],
    );
    if (rows.length) return 'ADDED';
    return (await this.isMember(roId, account, role)) ? 'EXISTS' : 'TAKEN';
  }

  async removeMember(roId: string, account: string, role: RoMemberRole): Promise<boolean> {
    const [, count] = await this.db.query(`DELETE FROM ro_members WHERE ro_id = $1 AND account = $2 AND role = $3`, [roId, account, role]);
    return count > 0;
  }

  async members(roId: string): Promise<RoMemberRow[]> {
    const rows = await this.db.query(`SELECT ro_id, account, role FROM ro_members WHERE ro_id = $1 ORDER BY role, account`, [roId]);
    return rows.map((r: Record<string, any>) => ({ roId: r.ro_id, account: r.account, role: r.role }));
  }

  /** Every RO membership of an account. */
  async membershipsOf(chainId: number, account: string): Promise<RoMemberRow[]> {
    const rows = await this.db.query(`SELECT ro_id, account, role FROM ro_members WHERE chain_id = $1 AND account = $2`, [chainId, account]);
    return rows.map((r: Record<string, any>) => ({ roId: r.ro_id, account: r.account, role: r.role }));
  }

  async isMember(roId: string, account: string, role: RoMemberRole): Promise<boolean> {
    const [r] = await this.db.query(`SELECT EXISTS (SELECT 1 FROM ro_members WHERE ro_id = $1 AND account = $2 AND role = $3) AS m`, [roId, account, role]);
    return r.m;
  }

  /** The RO a depositor wallet posts for, if any. */
  async roOfDepositor(chainId: number, account: string): Promise<RoRow | null> {
    const [r] = await this.db.query(
      `SELECT o.* FROM ro_members m JOIN radiology_orgs o ON o.id = m.ro_id
       WHERE m.chain_id = $1 AND m.account = $2 AND m.role = 'DEPOSITOR'`,
      [chainId, account],
    );
    return r ? toRo(r) : null;
  }

  /** Registers (or rotates) an account's X25519 public key. */
  async setEncryptionKey(chainId: number, account: string, publicKey: Buffer): Promise<void> {
    await this.db.query(
      `INSERT INTO encryption_keys (chain_id, account, public_key) VALUES ($1, $2, $3)
       ON CONFLICT ON CONSTRAINT encryption_keys_pk DO UPDATE SET public_key = EXCLUDED.public_key, registered_at = now()`,
      [chainId, account, publicKey],
    );
  }

  async encryptionKeyOf(chainId: number, account: string): Promise<string | null> {
    const [r] = await this.db.query(`SELECT public_key FROM encryption_keys WHERE chain_id = $1 AND account = $2`, [chainId, account]);
    return r ? toHex(r.public_key) : null;
  }
}
