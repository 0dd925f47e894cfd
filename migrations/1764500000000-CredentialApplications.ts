import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Credential verification (issue 6). Applications hold personal data (NPI, licence numbers, board certificate):
 * it lives only here, never on chain and never in logs. What goes on chain on approval (state and modality
 * masks, expiry) is copied into the application so the settler can explain an expiry.
 * Notifications: what the settler tells a radiologist (credential expiring / lapsed), one row per event.
 */
export class CredentialApplications1764500000000 implements MigrationInterface {
  name = 'CredentialApplications1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE credential_applications (
        id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        chain_id              integer     NOT NULL,
        applicant             eth_address NOT NULL,
        npi                   char(10)    NOT NULL CHECK (npi ~ '^[12][0-9]{9}$'),
        modalities            text[]      NOT NULL CHECK (cardinality(modalities) > 0),
        subspecialties        text[]      NOT NULL DEFAULT '{}',
        board                 text        NOT NULL,
        board_certificate     text        NOT NULL,
        board_expires_on      date,
        status                text        NOT NULL DEFAULT 'PENDING'
                              CHECK (status IN ('PENDING','APPROVED','REJECTED','REVOKED')),
        submitted_at          timestamptz NOT NULL DEFAULT now(),
        decided_at            timestamptz,
        decided_by            eth_address,
        decision_reason       text,
        states_mask           numeric(20,0),
        modalities_mask       integer,
        credential_expires_at bigint,
        expiry_reason         text,
        revoked_at            timestamptz,
        revoked_by            eth_address,
        revocation_reason     text,
        CONSTRAINT credential_applications_decided CHECK (status = 'PENDING' OR (decided_at IS NOT NULL AND decided_by IS NOT NULL)),
        CONSTRAINT credential_applications_attested CHECK (status NOT IN ('APPROVED','REVOKED') OR credential_expires_at IS NOT NULL)
      );
      -- one open application per account (a second one is a CONFLICT, by constraint)
      CREATE UNIQUE INDEX credential_applications_one_pending ON credential_applications (chain_id, applicant) WHERE status = 'PENDING';
      -- the verifiers' review queue, oldest first
      CREATE INDEX credential_applications_queue_idx ON credential_applications (chain_id, submitted_at, id) WHERE status = 'PENDING';
      CREATE INDEX credential_applications_applicant_idx ON credential_applications (chain_id, applicant, submitted_at);

      CREATE TABLE credential_licences (
        application_id uuid    NOT NULL REFERENCES credential_applications (id) ON DELETE CASCADE,
        state          char(2) NOT NULL,
        licence_number text    NOT NULL,
        expires_on     date    NOT NULL,
        CONSTRAINT credential_licences_pk PRIMARY KEY (application_id, state)
      );

      CREATE TABLE notifications (
        id         bigserial   PRIMARY KEY,
        chain_id   integer     NOT NULL,
        recipient  eth_address NOT NULL,
        kind       text        NOT NULL CHECK (kind IN ('CREDENTIAL_EXPIRING','CREDENTIAL_LAPSED')),
        -- what makes the event unique (e.g. the expiry and the warning threshold), so it is sent once
        dedupe_key text        NOT NULL,
        message    text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT notifications_once UNIQUE (chain_id, recipient, kind, dedupe_key)
      );
      CREATE INDEX notifications_recipient_idx ON notifications (chain_id, recipient, id);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE notifications, credential_licences, credential_applications`);
  }
}
