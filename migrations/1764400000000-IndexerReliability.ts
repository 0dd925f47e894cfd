import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 5: an indexer that survives reorgs, crashes and faults.
 * - indexed_blocks: headers (hash, parent hash) of the blocks inside the finality window, for the parent-hash
 *   check and for finding the common ancestor of a reorg; older ones are pruned.
 * - indexer_checkpoints gains the chain head the indexer last saw and, when it stopped itself, why.
 * - outbox: one row per stored event (and per event a reorg removed after it was published), written in the
 *   same transaction as the event, deleted once the bus acknowledged it.
 * - bus_inbox: message IDs a consumer has handled (idempotent consumers under at-least-once delivery).
 */
export class IndexerReliability1764400000000 implements MigrationInterface {
  name = 'IndexerReliability1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE indexed_blocks (
        chain_id     integer NOT NULL,
        stream       text    NOT NULL,
        block_number bigint  NOT NULL,
        block_hash   bytes32 NOT NULL,
        parent_hash  bytes32 NOT NULL,
        block_time   bigint  NOT NULL,
        CONSTRAINT indexed_blocks_pk PRIMARY KEY (chain_id, stream, block_number)
      );

      ALTER TABLE indexer_checkpoints
        ADD COLUMN chain_head   bigint,
        ADD COLUMN halted_at    timestamptz,
        ADD COLUMN halted_reason text;

      CREATE TABLE outbox (
        id        bigserial PRIMARY KEY,
        event_id  bigint REFERENCES chain_events (id) ON DELETE CASCADE,
        payload   jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT outbox_event_or_payload CHECK ((event_id IS NULL) <> (payload IS NULL))
      );
      CREATE INDEX outbox_event_idx ON outbox (event_id) WHERE event_id IS NOT NULL;

      CREATE TABLE bus_inbox (
        consumer    text NOT NULL,
        message_id  text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT bus_inbox_pk PRIMARY KEY (consumer, message_id)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE bus_inbox, outbox, indexed_blocks;
      ALTER TABLE indexer_checkpoints DROP COLUMN chain_head, DROP COLUMN halted_at, DROP COLUMN halted_reason;
    `);
  }
}
