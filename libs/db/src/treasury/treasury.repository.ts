import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export type TreasuryStatus = 'PENDING' | 'EXECUTED' | 'REPLACED';

export interface TreasuryPayment {
  to: string;
  amount: string;
}

export interface TreasuryProposalRow {
  id: string;
  chainId: number;
  safe: string;
  nonce: bigint;
  safeTxHash: string;
  to: string;
  value: bigint;
  data: string;
  operation: number;
  payments: TreasuryPayment[];
  description: string;
  proposer: string;
  replaces: string | null;
  status: TreasuryStatus;
  executedTx: string | null;
  createdAt: Date;
  signatures: { signer: string; signature: string; createdAt: Date }[];
}

export type NewTreasuryProposal = Omit<TreasuryProposalRow, 'id' | 'status' | 'executedTx' | 'createdAt' | 'signatures'>;

/** Treasury payouts (Safe transactions) and their owners' signatures. */
@Injectable()
export class TreasuryRepository {
  constructor(private readonly db: DataSource) {}

  /** The highest nonce of a PENDING proposal of `safe`, or null. */
  async highestPendingNonce(chainId: number, safe: string): Promise<bigint | null> {
    const [r] = await this.db.query(`SELECT max(nonce) AS n FROM treasury_proposals WHERE chain_id = $1 AND safe = $2 AND status = 'PENDING'`, [chainId, safe]);
    return r.n === null ? null : BigInt(r.n);
  }

  /**
   * Inserts a proposal. Returns null when its nonce is already taken (treasury_proposals_nonce_unique) so the
   * caller can take the next one; any other constraint violation is thrown.
   */
  async insert(p: NewTreasuryProposal): Promise<string | null> {
    try {
      const [r] = await this.db.query(
        `INSERT INTO treasury_proposals (chain_id, safe, nonce, safe_tx_hash, to_address, value, data, operation, payments, description, proposer, replaces)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
        [p.chainId, p.safe, p.nonce.toString(), p.safeTxHash, p.to, p.value.toString(), p.data, p.operation, JSON.stringify(p.payments), p.description, p.proposer, p.replaces],
      );
      return r.id;
    } catch (e) {
      if ((e as { driverError?: { constraint?: string } }).driverError?.constraint === 'treasury_proposals_nonce_unique') return null;
      throw e;
    }
  }

  /** Adds an owner's signature; false if that owner had already signed. */
  async addSignature(proposalId: string, signer: string, signature: string): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO treasury_signatures (proposal_id, signer, signature) VALUES ($1, $2, $3) ON CONFLICT (proposal_id, signer) DO NOTHING RETURNING signer`,
      [proposalId, signer, signature.toLowerCase()],
    );
    return rows.length === 1;
  }

  async proposal(chainId: number, id: string): Promise<TreasuryProposalRow | null> {
    const rows = await this.select(`p.chain_id = $1 AND p.id = $2`, [chainId, id]);
    return rows[0] ?? null;
  }

  /** Proposals of `safe`, newest first, optionally of one status. */
  async proposals(chainId: number, safe: string, status: TreasuryStatus | null, limit: number): Promise<TreasuryProposalRow[]> {
    return this.select(`p.chain_id = $1 AND p.safe = $2 AND ($3::text IS NULL OR p.status = $3::text) ORDER BY p.created_at DESC, p.id LIMIT $4`, [
      chainId, safe, status, limit,
    ]);
  }

  /** Marks `id` executed by `txHash` and every other PENDING proposal at its nonce REPLACED, in one transaction. */
  async markExecuted(chainId: number, id: string, txHash: string): Promise<void> {
    await this.db.transaction(async (m) => {
      // UPDATE … RETURNING answers [rows, count]
      const [[p]] = await m.query(
        `UPDATE treasury_proposals SET status = 'EXECUTED', executed_tx = $3, updated_at = now()
         WHERE chain_id = $1 AND id = $2 AND status = 'PENDING' RETURNING safe, nonce`,
        [chainId, id, txHash],
      );
      if (!p) return;
      await m.query(
        `UPDATE treasury_proposals SET status = 'REPLACED', updated_at = now()
         WHERE chain_id = $1 AND safe = $2 AND nonce = $3 AND status = 'PENDING'`,
        [chainId, p.safe, p.nonce],
      );
    });
  }

  /** PENDING proposals of `safe` below `nonce` (the Safe has used their nonces). */
  async pendingBelow(chainId: number, safe: string, nonce: bigint): Promise<TreasuryProposalRow[]> {
    return this.select(`p.chain_id = $1 AND p.safe = $2 AND p.nonce < $3 AND p.status = 'PENDING' ORDER BY p.nonce`, [chainId, safe, nonce.toString()]);
  }

  /** PENDING proposals below the Safe's on-chain nonce can never execute: another transaction used their nonce. */
  async markStale(chainId: number, safe: string, onChainNonce: bigint): Promise<number> {
    const [rows] = await this.db.query(
      `UPDATE treasury_proposals SET status = 'REPLACED', updated_at = now()
       WHERE chain_id = $1 AND safe = $2 AND nonce < $3 AND status = 'PENDING' RETURNING id`,
      [chainId, safe, onChainNonce.toString()],
    );
    return rows.length;
  }

  private async select(where: string, params: unknown[]): Promise<TreasuryProposalRow[]> {
    const rows = await this.db.query(
      `SELECT p.*, coalesce((SELECT json_agg(json_build_object('signer', s.signer, 'signature', s.signature, 'createdAt', s.created_at) ORDER BY s.signer)
                             FROM treasury_signatures s WHERE s.proposal_id = p.id), '[]') AS signatures
       FROM treasury_proposals p WHERE ${where}`,
      params,
    );
    return rows.map(
      (r: Record<string, any>): TreasuryProposalRow => ({
        id: r.id, chainId: Number(r.chain_id), safe: r.safe, nonce: BigInt(r.nonce), safeTxHash: r.safe_tx_hash, to: r.to_address,
        value: BigInt(r.value), data: r.data, operation: Number(r.operation), payments: r.payments, description: r.description,
        proposer: r.proposer, replaces: r.replaces, status: r.status, executedTx: r.executed_tx, createdAt: r.created_at,
        signatures: r.signatures.map((s: { signer: string; signature: string; createdAt: string }) => ({ ...s, createdAt: new Date(s.createdAt) })),
      }),
    );
  }
}
