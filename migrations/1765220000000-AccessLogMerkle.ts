import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Inclusion proofs for the study access log (issue 13, item 7; libs/lease access-log-proof.ts).
 *   study_access_log.salt  32 random bytes per entry, set by the insert trigger (whatever the client sends is
 *                          overwritten). An entry's Merkle leaf commits to it, so a proof for one study's entry reveals
 *                          sibling hashes that cannot be tested against guessed content of other entries.
 *   access_log_anchors     the anchors on chain (AccessLogAnchor's AccessLogAnchored events, copied by the worker
 *                          after it anchors): the entries fromSeq..seq, their chain head and Merkle root, the block and
 *                          transaction. A copy for finding proofs: the root an RO trusts is read from the chain.
 * Entries written before this migration get a salt here (the append-only trigger is paused for that one statement).
 */
export class AccessLogMerkle1765220000000 implements MigrationInterface {
  name = 'AccessLogMerkle1765220000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE study_access_log ADD COLUMN salt bytea;
      ALTER TABLE study_access_log DISABLE TRIGGER study_access_log_no_update;
      UPDATE study_access_log SET salt = uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
      ALTER TABLE study_access_log ENABLE TRIGGER study_access_log_no_update;
      ALTER TABLE study_access_log ALTER COLUMN salt SET NOT NULL,
        ADD CONSTRAINT study_access_log_salt_length CHECK (length(salt) = 32);

      -- as in StudyVault, plus the salt: two version-4 UUIDs, 244 random bits, from the server's strong random source
      CREATE OR REPLACE FUNCTION study_access_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE last record;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('study_access_log'));
        SELECT seq, hash INTO last FROM study_access_log ORDER BY seq DESC LIMIT 1;
        NEW.seq := coalesce(last.seq, 0) + 1;
        NEW.prev_hash := coalesce(last.hash, decode(repeat('00', 32), 'hex'));
        NEW.hash := sha256(NEW.prev_hash || convert_to(concat_ws('|', NEW.seq, NEW.chain_id, NEW.study_id, NEW.account,
          NEW.action, NEW.outcome, coalesce(NEW.reason, ''), NEW.at_ms), 'UTF8'));
        NEW.salt := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
        RETURN NEW;
      END $$;

      CREATE TABLE access_log_anchors (
        chain_id      integer NOT NULL,
        seq           bigint  NOT NULL,
        from_seq      bigint  NOT NULL,
        head          bytes32 NOT NULL,
        root          bytes32 NOT NULL,
        block_number  bigint  NOT NULL,
        tx_hash       bytes32 NOT NULL,
        CONSTRAINT access_log_anchors_pk PRIMARY KEY (chain_id, seq),
        CONSTRAINT access_log_anchors_range CHECK (from_seq >= 1 AND from_seq <= seq)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE access_log_anchors;
      CREATE OR REPLACE FUNCTION study_access_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE last record;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('study_access_log'));
        SELECT seq, hash INTO last FROM study_access_log ORDER BY seq DESC LIMIT 1;
        NEW.seq := coalesce(last.seq, 0) + 1;
        NEW.prev_hash := coalesce(last.hash, decode(repeat('00', 32), 'hex'));
        NEW.hash := sha256(NEW.prev_hash || convert_to(concat_ws('|', NEW.seq, NEW.chain_id, NEW.study_id, NEW.account,
          NEW.action, NEW.outcome, coalesce(NEW.reason, ''), NEW.at_ms), 'UTF8'));
        RETURN NEW;
      END $$;
      ALTER TABLE study_access_log DROP COLUMN salt;
    `);
  }
}
