import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

@Injectable()
export class AuthRepository {
  constructor(private readonly db: DataSource) {}

  async createNonce(nonce: string, ttlSeconds: number): Promise<Date> {
    const [row] = await this.db.query(
      `INSERT INTO auth_nonces (nonce, expires_at) VALUES ($1, now() + make_interval(secs => $2)) RETURNING expires_at`,
      [nonce, ttlSeconds],
    );
    return row.expires_at;
  }

  /** Marks the nonce used; true only for the one caller that used a live, unused nonce (atomic, no check-then-set). */
  async consumeNonce(nonce: string): Promise<boolean> {
    const [rows] = await this.db.query(
      `UPDATE auth_nonces SET used_at = now() WHERE nonce = $1 AND used_at IS NULL AND expires_at > now() RETURNING nonce`,
      [nonce],
    );
    return rows.length === 1;
  }

  async createSession(tokenHash: string, address: string, chainId: number, expiresAt: Date): Promise<void> {
    await this.db.query(`INSERT INTO sessions (token_hash, address, chain_id, expires_at) VALUES ($1, $2, $3, $4)`, [
      tokenHash, address, chainId, expiresAt,
    ]);
  }

  async findSession(tokenHash: string): Promise<{ address: string; chainId: number } | null> {
    const rows = await this.db.query(
      `SELECT address, chain_id FROM sessions WHERE token_hash = $1 AND expires_at > now()`,
      [tokenHash],
    );
    return rows.length ? { address: rows[0].address, chainId: Number(rows[0].chain_id) } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.query(`DELETE FROM sessions WHERE token_hash = $1`, [tokenHash]);
  }
}
