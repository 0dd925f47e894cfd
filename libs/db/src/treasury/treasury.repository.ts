// The treasury aggregate (libs/db/src/treasury): treasury_proposals and treasury_signatures are written only here
// (the API proposes and collects signatures; markExecuted/markStale after the Safe executes). updated_at is set
// by these statements (its DEFAULT covers the insert).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type Sql, execute, queryRows, sql } from '../sql.js';

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

/** A row of treasury_proposals with its signatures (json_agg: dates as text). */
interface TreasuryProposalDbRow {
  id: string;
  chain_id: number;
  safe: string;
  nonce: string;
  safe_tx_hash: string;
  to_address: string;
  value: string;
  data: string;
  operation: number;
  payments: TreasuryPayment[];
  description: string;
  proposer: string;
  replaces: string | null;
  status: TreasuryStatus;
  executed_tx: string | null;
  created_at: Date;
  signatures: { signer: string; signature: string; createdAt: string }[];
}

/** Treasury payouts (Safe transactions) and their owners' signatures. */
@Injectable()
export class TreasuryRepository {
  constructor(private readonly db: DataSource) {}

  /** The highest nonce of a PENDING proposal of `safe`, or null. */
  async highestPendingNonce(chainId: number, safe: string): Promise<bigint | null> {
    const [r] = await queryRows<{ n: string | null }>(
      this.db,
      sql`SELECT max(nonce) AS n FROM treasury_proposals WHERE chain_id = ${chainId} AND safe = ${safe} AND status = 'PENDING'`,
    );
    return r.n === null ? null : BigInt(r.n);
  }

  /**
   * Inserts a proposal. Returns null when its nonce is already taken (treasury_proposals_nonce_unique) so the
   * caller can take the next one; any other constraint violation is thrown.
   */
  async insert(p: NewTreasuryProposal): Promise<string | null> {
    try {
      const [r] = await queryRows<{ id: string }>(
        this.db,
        sql`INSERT INTO treasury_proposals (chain_id, safe, nonce, safe_tx_hash, to_address, value, data, operation, payments, description, proposer, replaces)
         VALUES (${p.chainId}, ${p.safe}, ${p.nonce.toString()}, ${p.safeTxHash}, ${p.to}, ${p.value.toString()}, ${p.data}, ${p.operation}, ${JSON.stringify(p.payments)}, ${p.description}, ${p.proposer}, ${p.replaces}) RETURNING id`,
      );
      return r.id;
    } catch (e) {
      if ((e as { driverError?: { constraint?: string } }).driverError?.constraint === 'treasury_proposals_nonce_unique') return null;
      throw e;
    }
  }

  /** Adds an owner's signature; false if that owner had already signed. */
  async addSignature(proposalId: string, signer: string, signature: string): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO treasury_signatures (proposal_id, signer, signature) VALUES (${proposalId}, ${signer}, ${signature.toLowerCase()}) ON CONFLICT (proposal_id, signer) DO NOTHING RETURNING signer`,
    );
    return rows.length === 1;
  }

  async proposal(chainId: number, id: string): Promise<TreasuryProposalRow | null> {
    const rows = await this.select(sql`p.chain_id = ${chainId} AND p.id = ${id}`);
    return rows[0] ?? null;
  }

  /** Proposals of `safe`, newest first, optionally of one status. */
  async proposals(chainId: number, safe: string, status: TreasuryStatus | null, limit: number): Promise<TreasuryProposalRow[]> {
    return this.select(
      sql`p.chain_id = ${chainId} AND p.safe = ${safe} AND (${status}::text IS NULL OR p.status = ${status}::text) ORDER BY p.created_at DESC, p.id LIMIT ${limit}`,
    );
  }

  /** Marks `id` executed by `txHash` and every other PENDING proposal at its nonce REPLACED, in one transaction. */
  async markExecuted(chainId: number, id: string, txHash: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const {
        rows: [p],
      } = await execute<{ safe: string; nonce: string }>(
        m,
        sql`UPDATE treasury_proposals SET status = 'EXECUTED', executed_tx = ${txHash}, updated_at = now()
         WHERE chain_id = ${chainId} AND id = ${id} AND status = 'PENDING' RETURNING safe, nonce`,
      );
      if (!p) return;
      await execute(
        m,
        sql`UPDATE treasury_proposals SET status = 'REPLACED', updated_at = now()
         WHERE chain_id = ${chainId} AND safe = ${p.safe} AND nonce = ${p.nonce} AND status = 'PENDING'`,
      );
    });
  }

  /** PENDING proposals of `safe` below `nonce` (the Safe has used their nonces). */
  async pendingBelow(chainId: number, safe: string, nonce: bigint): Promise<TreasuryProposalRow[]> {
    return this.select(
      sql`p.chain_id = ${chainId} AND p.safe = ${safe} AND p.nonce < ${nonce.toString()} AND p.status = 'PENDING' ORDER BY p.nonce`,
    );
  }

  /** PENDING proposals below the Safe's on-chain nonce can never execute: another transaction used their nonce. */
  async markStale(chainId: number, safe: string, onChainNonce: bigint): Promise<number> {
    const { count } = await execute(
      this.db,
      sql`UPDATE treasury_proposals SET status = 'REPLACED', updated_at = now()
       WHERE chain_id = ${chainId} AND safe = ${safe} AND nonce < ${onChainNonce.toString()} AND status = 'PENDING' RETURNING id`,
    );
    return count;
  }

  private async select(where: Sql): Promise<TreasuryProposalRow[]> {
    const rows = await queryRows<TreasuryProposalDbRow>(
      this.db,
      sql`SELECT p.*, coalesce((SELECT json_agg(json_build_object('signer', s.signer, 'signature', s.signature, 'createdAt', s.created_at) ORDER BY s.signer)
                             FROM treasury_signatures s WHERE s.proposal_id = p.id), '[]') AS signatures
       FROM treasury_proposals p WHERE ${where}`,
    );
    return rows.map((r): TreasuryProposalRow => ({
      id: r.id,
      chainId: Number(r.chain_id),
      safe: r.safe,
      nonce: BigInt(r.nonce),
      safeTxHash: r.safe_tx_hash,
      to: r.to_address,
      value: BigInt(r.value),
      data: r.data,
      operation: Number(r.operation),
      payments: r.payments,
      description: r.description,
      proposer: r.proposer,
      replaces: r.replaces,
      status: r.status,
      executedTx: r.executed_tx,
      createdAt: r.created_at,
      signatures: r.signatures.map((s) => ({ ...s, createdAt: new Date(s.createdAt) })),
    }));
  }
}
