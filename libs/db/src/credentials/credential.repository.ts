// The credentials aggregate (libs/db/src/credentials): who writes what.
// - credentials (on-chain attestations: states, modalities, expires_at, revoked, verifier, updated_block): the
//   indexer's apps/indexer/src/store/projections/credentials.projection.ts only; a reorg deletes and replays them.
// - credential_applications, credential_licences, notifications: this repository (the API's review workflow and
//   the settler's expiry notices); status moves PENDING → APPROVED/REJECTED, APPROVED → REVOKED, guarded in SQL.
// eligibility.ts is the one SQL spelling of the eligibility rule, used by the studies queries.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

export type ApplicationStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'REVOKED';

export interface LicenceRow {
  state: string;
  licenceNumber: string;
  /** YYYY-MM-DD */
  expiresOn: string;
}

export interface NewApplication {
  chainId: number;
  applicant: string;
  npi: string;
  licences: LicenceRow[];
  modalities: string[];
  subspecialties: string[];
  board: string;
  boardCertificate: string;
  boardExpiresOn: string | null;
}

export interface ApplicationRow extends NewApplication {
  id: string;
  status: ApplicationStatus;
  submittedAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  decisionReason: string | null;
  statesMask: bigint | null;
  modalitiesMask: number | null;
  credentialExpiresAt: number | null;
  expiryReason: string | null;
  revokedAt: Date | null;
  revokedBy: string | null;
  revocationReason: string | null;
}

export interface ExpiringCredential {
  radiologist: string;
  expiresAt: number;
  /** from the approved application: 'RECREDENTIAL' or 'LICENCE:<state>'; null if attested outside OpenRead's workflow */
  expiryReason: string | null;
}

export interface NotificationRow {
  id: number;
  kind: string;
  message: string;
  createdAt: Date;
}

/** Thrown when an account already has a pending application (by the partial unique index, not by a pre-check). */
export class DuplicatePendingApplication extends Error {}

/** Thrown when approving would credential an NPI that another account holds (by an exclusion constraint, not by a pre-check). */
export class NpiCredentialedElsewhere extends Error {}

const SELECT_APPLICATION = sql`
  SELECT a.*, to_char(a.board_expires_on, 'YYYY-MM-DD') AS board_expires_on_text,
    COALESCE((SELECT json_agg(json_build_object('state', l.state, 'licenceNumber', l.licence_number,
                'expiresOn', to_char(l.expires_on, 'YYYY-MM-DD')) ORDER BY l.state)
              FROM credential_licences l WHERE l.application_id = a.id), '[]') AS licences
  FROM credential_applications a`;

/**
 * Credential applications (personal data: only here, never on chain or in logs), their decisions, and the
 * notifications the settler sends about credential expiry.
 */
@Injectable()
export class CredentialRepository {
  constructor(private readonly db: DataSource) {}

  async create(app: NewApplication): Promise<ApplicationRow> {
    try {
      return await this.db.transaction(async (tx) => {
        const [{ id }] = await queryRows<{ id: string }>(
          tx,
          sql`INSERT INTO credential_applications
             (chain_id, applicant, npi, modalities, subspecialties, board, board_certificate, board_expires_on)
           VALUES (${app.chainId}, ${app.applicant}, ${app.npi}, ${app.modalities}, ${app.subspecialties}, ${app.board}, ${app.boardCertificate}, ${app.boardExpiresOn}) RETURNING id`,
        );
        await queryRows(
          tx,
          sql`INSERT INTO credential_licences (application_id, state, licence_number, expires_on)
           SELECT ${id}, l.state, l.licence_number, l.expires_on
           FROM unnest(${app.licences.map((l) => l.state)}::text[], ${app.licences.map((l) => l.licenceNumber)}::text[], ${app.licences.map((l) => l.expiresOn)}::date[]) AS l(state, licence_number, expires_on)`,
        );
        const [row] = await queryRows<ApplicationDbRow>(tx, sql`${SELECT_APPLICATION} WHERE a.id = ${id}`);
        return toApplication(row);
      });
    } catch (e) {
      if ((e as { code?: string; constraint?: string }).constraint === 'credential_applications_one_pending')
        throw new DuplicatePendingApplication('an application is already pending');
      throw e;
    }
  }

  async findById(chainId: number, id: string): Promise<ApplicationRow | null> {
    const rows = await queryRows<ApplicationDbRow>(this.db, sql`${SELECT_APPLICATION} WHERE a.chain_id = ${chainId} AND a.id = ${id}`);
    return rows.length ? toApplication(rows[0]) : null;
  }

  async ofApplicant(chainId: number, applicant: string, limit: number): Promise<ApplicationRow[]> {
    const rows = await queryRows<ApplicationDbRow>(
      this.db,
      sql`${SELECT_APPLICATION} WHERE a.chain_id = ${chainId} AND a.applicant = ${applicant} ORDER BY a.submitted_at DESC, a.id LIMIT ${limit}`,
    );
    return rows.map(toApplication);
  }

  /** The review queue, oldest first, keyset-paginated on (submitted_at, id) after the application `afterId`. */
  async pending(chainId: number, limit: number, afterId?: string): Promise<ApplicationRow[]> {
    // the cursor is the last ID; its submitted_at is read back here at full (microsecond) precision
    const after = afterId ?? null;
    const rows = await queryRows<ApplicationDbRow>(
      this.db,
      sql`${SELECT_APPLICATION}
       WHERE a.chain_id = ${chainId} AND a.status = 'PENDING'
         AND (${after}::uuid IS NULL OR (a.submitted_at, a.id) > (SELECT submitted_at, id FROM credential_applications WHERE id = ${after}))
       ORDER BY a.submitted_at, a.id LIMIT ${limit}`,
    );
    return rows.map(toApplication);
  }

  /** PENDING → APPROVED with what is attested on chain. null if the application is not pending (atomic). */
  async approve(
    chainId: number,
    id: string,
    verifier: string,
    att: { statesMask: bigint; modalitiesMask: number; expiresAt: number; expiryReason: string },
  ): Promise<ApplicationRow | null> {
    let rows: { id: string }[];
    try {
      rows = await queryRows<{ id: string }>(
        this.db,
        sql`WITH u AS (UPDATE credential_applications
         SET status = 'APPROVED', decided_at = now(), decided_by = ${verifier}, states_mask = ${att.statesMask.toString()},
             modalities_mask = ${att.modalitiesMask}, credential_expires_at = ${att.expiresAt}, expiry_reason = ${att.expiryReason}
       WHERE chain_id = ${chainId} AND id = ${id} AND status = 'PENDING' RETURNING id) SELECT id FROM u`,
      );
    } catch (e) {
      if ((e as { constraint?: string }).constraint === 'credential_applications_one_wallet_per_npi')
        throw new NpiCredentialedElsewhere('the NPI is credentialed to another account');
      throw e;
    }
    return rows[0] ? this.findById(chainId, id) : null;
  }

  /** PENDING → REJECTED with the reason. null if the application is not pending (atomic). */
  async reject(chainId: number, id: string, verifier: string, reason: string): Promise<ApplicationRow | null> {
    const rows = await queryRows<{ id: string }>(
      this.db,
      sql`WITH u AS (UPDATE credential_applications SET status = 'REJECTED', decided_at = now(), decided_by = ${verifier}, decision_reason = ${reason}
       WHERE chain_id = ${chainId} AND id = ${id} AND status = 'PENDING' RETURNING id) SELECT id FROM u`,
    );
    return rows[0] ? this.findById(chainId, id) : null;
  }

  /** Marks the radiologist's approved application(s) REVOKED with the reason; returns how many. */
  async revoke(chainId: number, radiologist: string, verifier: string, reason: string): Promise<number> {
    const rows = await queryRows<{ id: string }>(
      this.db,
      sql`WITH u AS (UPDATE credential_applications SET status = 'REVOKED', revoked_at = now(), revoked_by = ${verifier}, revocation_reason = ${reason}
       WHERE chain_id = ${chainId} AND applicant = ${radiologist} AND status = 'APPROVED' RETURNING id) SELECT id FROM u`,
    );
    return rows.length;
  }

  /**
   * Live (not revoked) on-chain credentials that expire before `until` (chain time), with the reason recorded at
   * approval. Includes already lapsed ones (expires_at <= now) so the settler can tell them apart.
   */
  async expiringBefore(chainId: number, until: number, limit = 500): Promise<ExpiringCredential[]> {
    const rows = await queryRows<{ radiologist: string; expires_at: string; expiry_reason: string | null }>(
      this.db,
      sql`SELECT c.radiologist, c.expires_at,
         (SELECT a.expiry_reason FROM credential_applications a
          WHERE a.chain_id = c.chain_id AND a.applicant = c.radiologist AND a.status = 'APPROVED'
            AND a.credential_expires_at = c.expires_at
          ORDER BY a.decided_at DESC LIMIT 1) AS expiry_reason
       FROM credentials c
       WHERE c.chain_id = ${chainId} AND NOT c.revoked AND c.expires_at < ${until}
       ORDER BY c.expires_at LIMIT ${limit}`,
    );
    return rows.map((r) => ({
      radiologist: r.radiologist,
      expiresAt: Number(r.expires_at),
      expiryReason: r.expiry_reason,
    }));
  }

  /** The indexed on-chain credential of `radiologist`, if any. */
  async credentialOf(
    chainId: number,
    radiologist: string,
  ): Promise<{ states: string[]; modalities: string[]; expiresAt: number; revoked: boolean } | null> {
    const rows = await queryRows<{ states: string[]; modalities: string[]; expires_at: string; revoked: boolean }>(
      this.db,
      sql`SELECT states, modalities, expires_at, revoked FROM credentials WHERE chain_id = ${chainId} AND radiologist = ${radiologist}`,
    );
    if (!rows.length) return null;
    const r = rows[0];
    return { states: r.states.map((s) => s.trim()), modalities: r.modalities, expiresAt: Number(r.expires_at), revoked: r.revoked };
  }

  /** Records a notification once per (recipient, kind, dedupeKey); true if it is new. */
  async notify(chainId: number, recipient: string, kind: string, dedupeKey: string, message: string): Promise<boolean> {
    const rows = await queryRows<{ id: string }>(
      this.db,
      sql`INSERT INTO notifications (chain_id, recipient, kind, dedupe_key, message) VALUES (${chainId}, ${recipient}, ${kind}, ${dedupeKey}, ${message})
       ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING RETURNING id`,
    );
    return rows.length === 1;
  }

  async notificationsOf(chainId: number, recipient: string, limit: number): Promise<NotificationRow[]> {
    const rows = await queryRows<{ id: string; kind: string; message: string; created_at: Date }>(
      this.db,
      sql`SELECT id, kind, message, created_at FROM notifications WHERE chain_id = ${chainId} AND recipient = ${recipient} ORDER BY id DESC LIMIT ${limit}`,
    );
    return rows.map((r) => ({ id: Number(r.id), kind: r.kind, message: r.message, createdAt: r.created_at }));
  }
}

/** A row of credential_applications with its licences (SELECT_APPLICATION). */
interface ApplicationDbRow {
  id: string;
  chain_id: number;
  applicant: string;
  npi: string;
  licences: LicenceRow[];
  modalities: string[];
  subspecialties: string[];
  board: string;
  board_certificate: string;
  board_expires_on_text: string | null;
  status: ApplicationStatus;
  submitted_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  decision_reason: string | null;
  states_mask: string | null;
  modalities_mask: number | null;
  credential_expires_at: string | null;
  expiry_reason: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  revocation_reason: string | null;
}

function toApplication(r: ApplicationDbRow): ApplicationRow {
  return {
    id: r.id,
    chainId: Number(r.chain_id),
    applicant: r.applicant,
    npi: r.npi,
    licences: r.licences,
    modalities: r.modalities,
    subspecialties: r.subspecialties,
    board: r.board,
    boardCertificate: r.board_certificate,
    boardExpiresOn: r.board_expires_on_text,
    status: r.status,
    submittedAt: r.submitted_at,
    decidedAt: r.decided_at,
    decidedBy: r.decided_by,
    decisionReason: r.decision_reason,
    statesMask: r.states_mask === null ? null : BigInt(r.states_mask),
    modalitiesMask: r.modalities_mask,
    credentialExpiresAt: r.credential_expires_at === null ? null : Number(r.credential_expires_at),
    expiryReason: r.expiry_reason,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
    revocationReason: r.revocation_reason,
  };
}
