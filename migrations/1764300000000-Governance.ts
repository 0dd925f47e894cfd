import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * DAO governance projections (issue 4): proposals and votes of the governor (OpenZeppelin Governor events),
 * members' voting power (the DAO_MEMBER role), and the full history of incentive-parameter changes with the proposal whose execution made each one
 * (NULL for the constructor's defaults). Proposal state is not stored: it depends on time and quorum, so the
 * API asks the governor.
 */
export class Governance1764300000000 implements MigrationInterface {
  name = 'Governance1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE governance_proposals (
        chain_id      integer NOT NULL,
        governor      eth_address NOT NULL,
        proposal_id   uint256 NOT NULL,
        proposer      eth_address NOT NULL,
        actions       jsonb   NOT NULL, -- [{ target, value, calldata, signature }]
        description   text    NOT NULL,
        vote_start    bigint  NOT NULL,
        vote_end      bigint  NOT NULL, -- moved out by ProposalExtended (late quorum)
        for_votes     uint256 NOT NULL DEFAULT 0,
        against_votes uint256 NOT NULL DEFAULT 0,
        abstain_votes uint256 NOT NULL DEFAULT 0,
        eta           bigint,
        queued_at     bigint,
        executed_at   bigint,
        executed_tx   bytes32,
        canceled_at   bigint,
        created_block bigint  NOT NULL,
        created_tx    bytes32 NOT NULL,
        created_at    bigint  NOT NULL,
        updated_block bigint  NOT NULL,
        CONSTRAINT governance_proposals_pk PRIMARY KEY (chain_id, governor, proposal_id)
      );
      CREATE INDEX governance_proposals_created_idx ON governance_proposals (chain_id, created_block DESC);

      CREATE TABLE governance_votes (
        chain_id     integer NOT NULL,
        governor     eth_address NOT NULL,
        proposal_id  uint256 NOT NULL,
        voter        eth_address NOT NULL,
        support      smallint NOT NULL CHECK (support IN (0, 1, 2)),
        weight       uint256 NOT NULL,
        reason       text    NOT NULL DEFAULT '',
        tx_hash      bytes32 NOT NULL,
        block_number bigint  NOT NULL,
        block_time   bigint  NOT NULL,
        -- a voter votes once per proposal (GovernorAlreadyCastVote on chain)
        CONSTRAINT governance_votes_pk PRIMARY KEY (chain_id, governor, proposal_id, voter)
      );

      -- current voting power per account (DelegateVotesChanged of the membership token): the DAO_MEMBER role
      CREATE TABLE dao_votes (
        chain_id      integer NOT NULL,
        token         eth_address NOT NULL,
        account       eth_address NOT NULL,
        votes         uint256 NOT NULL,
        updated_block bigint  NOT NULL,
        CONSTRAINT dao_votes_pk PRIMARY KEY (chain_id, token, account)
      );

      CREATE TABLE parameter_changes (
        chain_id     integer NOT NULL,
        name         text    NOT NULL,
        key          integer NOT NULL,
        value        uint256 NOT NULL,
        block_number bigint  NOT NULL,
        block_time   bigint  NOT NULL,
        tx_hash      bytes32 NOT NULL,
        log_index    integer NOT NULL,
        proposal_id  uint256,
        CONSTRAINT parameter_changes_pk PRIMARY KEY (chain_id, tx_hash, log_index)
      );
      CREATE INDEX parameter_changes_history_idx ON parameter_changes (chain_id, name, key, block_number DESC, log_index DESC);
      CREATE INDEX parameter_changes_tx_idx ON parameter_changes (chain_id, tx_hash);

      -- the history of changes made before this migration (the constructor's defaults, owner-set values)
      INSERT INTO parameter_changes (chain_id, name, key, value, block_number, block_time, tx_hash, log_index)
      SELECT chain_id, args->>'name', (args->>'key')::integer, (args->>'value')::numeric, block_number, block_time, tx_hash, log_index
      FROM chain_events WHERE name = 'ParameterUpdated'
      ON CONFLICT ON CONSTRAINT parameter_changes_pk DO NOTHING;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE parameter_changes, dao_votes, governance_votes, governance_proposals;`);
  }
}
