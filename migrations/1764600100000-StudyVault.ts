import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The off-chain side of a study (the lease protocol). Nothing here is readable by the server: payloads and
 * reports are ciphertext, the study key exists only wrapped (to the RO's key, to a radiologist's key).
 *
 *   study_postings    study IDs the API generated (crypto randomness) for an RO, with the off-chain metadata
 *   study_payloads    the imaging, AES-256-GCM under a per-study key; the key sealed to the RO's public key
 *   study_leases      the study key sealed to the claimant's key, signed by the RO, expiring with the claim
 *   study_reports     reports sealed to the RO's key; only their keccak256 goes on chain
 *   study_access_log  every fetch and every refused attempt. Append-only: UPDATE, DELETE and TRUNCATE raise.
 *                     Each row carries hash = sha256(prev_hash || canonical row), seq assigned under a lock so
 *                     the chain order is the seq order; the head is anchored on chain (AccessLogAnchor).
 *                     Hazard: a superuser can still disable triggers; the on-chain anchors are what make a
 *                     rewrite detectable.
 */
export class StudyVault1764600100000 implements MigrationInterface {
  name = 'StudyVault1764600100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE study_postings (
        chain_id    integer NOT NULL,
        study_id    bytes32 NOT NULL,
        ro_id       uuid    NOT NULL REFERENCES radiology_orgs (id),
        body_part   text    NOT NULL,
        prepared_by eth_address NOT NULL,
        prepared_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT study_postings_pk PRIMARY KEY (chain_id, study_id)
      );
      CREATE INDEX study_postings_ro_idx ON study_postings (ro_id);

      CREATE TABLE study_payloads (
        chain_id    integer NOT NULL,
        study_id    bytes32 NOT NULL,
        ciphertext  bytea   NOT NULL,
        sha256      bytea   NOT NULL CHECK (length(sha256) = 32),
        key_for_ro  bytea   NOT NULL,
        uploaded_by eth_address NOT NULL,
        uploaded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT study_payloads_pk PRIMARY KEY (chain_id, study_id),
        CONSTRAINT study_payloads_posting_fk FOREIGN KEY (chain_id, study_id) REFERENCES study_postings (chain_id, study_id)
      );

      CREATE TABLE study_leases (
        id            bigserial PRIMARY KEY,
        chain_id      integer NOT NULL,
        study_id      bytes32 NOT NULL,
        radiologist   eth_address NOT NULL,
        recipient_key bytea   NOT NULL CHECK (length(recipient_key) = 32),
        wrapped_key   bytea   NOT NULL,
        issued_at     bigint  NOT NULL,
        expires_at    bigint  NOT NULL,
        signer        eth_address NOT NULL,
        signature     text    NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT study_leases_claim_unique UNIQUE (chain_id, study_id, radiologist, expires_at),
        CONSTRAINT study_leases_posting_fk FOREIGN KEY (chain_id, study_id) REFERENCES study_postings (chain_id, study_id)
      );

      CREATE TABLE study_reports (
        chain_id     integer NOT NULL,
        study_id     bytes32 NOT NULL,
        report_hash  bytes32 NOT NULL,
        radiologist  eth_address NOT NULL,
        ciphertext   bytea   NOT NULL,
        uploaded_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT study_reports_pk PRIMARY KEY (chain_id, study_id, report_hash),
        CONSTRAINT study_reports_posting_fk FOREIGN KEY (chain_id, study_id) REFERENCES study_postings (chain_id, study_id)
      );

      CREATE TABLE study_access_log (
        seq        bigint  PRIMARY KEY,
        chain_id   integer NOT NULL,
        study_id   bytes32 NOT NULL,
        account    eth_address NOT NULL,
        action     text    NOT NULL CHECK (action IN ('FETCH_PAYLOAD', 'FETCH_REPORT')),
        outcome    text    NOT NULL CHECK (outcome IN ('GRANTED', 'REFUSED')),
        reason     text,
        at_ms      bigint  NOT NULL,
        prev_hash  bytea   NOT NULL CHECK (length(prev_hash) = 32),
        hash       bytea   NOT NULL CHECK (length(hash) = 32)
      );
      CREATE INDEX study_access_log_study_idx ON study_access_log (chain_id, study_id, seq);

      -- seq and the hash chain are assigned here, under a transaction-scoped lock: concurrent inserts are
      -- serialised, so seq order = chain order. Whatever the client sent for seq/prev_hash/hash is overwritten.
      CREATE FUNCTION study_access_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
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
      CREATE TRIGGER study_access_log_chain BEFORE INSERT ON study_access_log
        FOR EACH ROW EXECUTE FUNCTION study_access_log_chain();

      CREATE FUNCTION study_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'study_access_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$;
      CREATE TRIGGER study_access_log_no_update BEFORE UPDATE OR DELETE ON study_access_log
        FOR EACH ROW EXECUTE FUNCTION study_access_log_append_only();
      CREATE TRIGGER study_access_log_no_truncate BEFORE TRUNCATE ON study_access_log
        FOR EACH STATEMENT EXECUTE FUNCTION study_access_log_append_only();
      REVOKE UPDATE, DELETE, TRUNCATE ON study_access_log FROM PUBLIC;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE study_access_log, study_reports, study_leases, study_payloads, study_postings;
      DROP FUNCTION study_access_log_chain(), study_access_log_append_only();
    `);
  }
}
