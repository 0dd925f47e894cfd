import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Treasury payouts (issue 4): Safe transactions the service proposes, the owners' signatures over their SafeTx
 * hash, and their outcome. Nonces: one proposal per (safe, nonce) unless it explicitly replaces another at that
 * nonce; at most one executed per (safe, nonce); once one executes, the others at its nonce are REPLACED.
 */
export class TreasuryProposals1764310000000 implements MigrationInterface {
  name = 'TreasuryProposals1764310000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE treasury_proposals (
        id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        chain_id     integer     NOT NULL,
        safe         eth_address NOT NULL,
        nonce        uint256     NOT NULL,
        safe_tx_hash bytes32     NOT NULL,
        to_address   eth_address NOT NULL,
        value        uint256     NOT NULL,
        data         text        NOT NULL CHECK (data ~ '^0x([0-9a-f]{2})*$'),
        operation    smallint    NOT NULL CHECK (operation IN (0, 1)),
        payments     jsonb       NOT NULL, -- [{ to, amount }]
        description  text        NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
        proposer     eth_address NOT NULL,
        replaces     uuid        REFERENCES treasury_proposals (id),
        status       text        NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'EXECUTED', 'REPLACED')),
        executed_tx  bytes32,
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT treasury_proposals_tx_unique UNIQUE (chain_id, safe, safe_tx_hash),
        CONSTRAINT treasury_proposals_executed_tx CHECK ((status = 'EXECUTED') = (executed_tx IS NOT NULL))
      );
      -- the service's nonce allocation: a nonce is taken once (a replacement names the proposal it replaces)
      CREATE UNIQUE INDEX treasury_proposals_nonce_unique ON treasury_proposals (chain_id, safe, nonce) WHERE replaces IS NULL;
      -- a Safe executes one transaction per nonce
      CREATE UNIQUE INDEX treasury_proposals_executed_unique ON treasury_proposals (chain_id, safe, nonce) WHERE status = 'EXECUTED';
      CREATE INDEX treasury_proposals_list_idx ON treasury_proposals (chain_id, safe, created_at DESC);

      CREATE TABLE treasury_signatures (
        proposal_id uuid        NOT NULL REFERENCES treasury_proposals (id) ON DELETE CASCADE,
        signer      eth_address NOT NULL,
        signature   text        NOT NULL CHECK (signature ~ '^0x[0-9a-f]{130}$'),
        created_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT treasury_signatures_pk PRIMARY KEY (proposal_id, signer)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE treasury_signatures; DROP TABLE treasury_proposals;`);
  }
}
