import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

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

const SELECT_APPLICATION = `
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
        const [{ id }] = await tx.query(
          `INSERT INTO credential_applications
             (chain_id, applicant, npi, modalities, subspecialties, board, board_certificate, board_expires_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
          [app.chainId, app.applicant, app.npi, app.modalities, app.subspecialties, app.board, app.boardCertificate, app.boardExpiresOn],
        );
        await tx.query(
          `INSERT INTO credential_licences (application_id, state, licence_number, expires_on)
           SELECT $1, l.state, l.licence_number, l.expires_on
           FROM unnest($2::text[], $3::text[], $4::date[]) AS l(state, licence_number, expires_on)`,
          [id, app.licences.map((l) => l.state), app.licences.map((l) => l.licenceNumber), app.licences.map((l) => l.expiresOn)],
        );
        const [row] = await tx.query(`${SELECT_APPLICATION} WHERE a.id = $1`, [id]);
        return toApplication(row);
      });
    } catch (e) {
      if ((e as { code?: string; constraint?: string }).constraint === 'credential_applications_one_pending')
        throw new DuplicatePendingApplication('an application is already pending');
      throw e;
    }
  }

  async findById(chainId: number, id: string): Promise<ApplicationRow | null> {
    const rows = await this.db.query(`${SELECT_APPLICATION} WHERE a.chain_id = $1 AND a.id = $2`, [chainId, id]);
    return rows.length ? toApplication(rows[0]) : null;
  }

  async ofApplicant(chainId: number, applicant: string, limit: number): Promise<ApplicationRow[]> {
    const rows = await this.db.query(
      `${SELECT_APPLICATION} WHERE a.chain_id = $1 AND a.applicant = $2 ORDER BY a.submitted_at DESC, a.id LIMIT $3`,
      [chainId, applicant, limit],
    );
    return rows.map(toApplication);
  }

  /** The review queue, oldest first, keyset-paginated on (submitted_at, id) after the application `afterId`. */
  async pending(chainId: number, limit: number, afterId?: string): Promise<ApplicationRow[]> {
    // the cursor is the last ID; its submitted_at is read back here at full (microsecond) precision
    const rows = await this.db.query(
      `${SELECT_APPLICATION}
       WHERE a.chain_id = $1 AND a.status = 'PENDING'
         AND ($3::uuid IS NULL OR (a.submitted_at, a.id) > (SELECT submitted_at, id FROM credential_applications WHERE id = $3))
       ORDER BY a.submitted_at, a.id LIMIT $2`,
      [chainId, limit, afterId ?? null],
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
    const rows = await this.db.query(
      // (UPDATE … RETURNING through TypeORM answers [rows, count]; wrapped in a CTE it answers rows)
      `WITH u AS (UPDATE credential_applications
         SET status = 'APPROVED', decided_at = now(), decided_by = $3, states_mask = $4, modalities_mask = $5,
             credential_expires_at = $6, expiry_reason = $7
       WHERE chain_id = $1 AND id = $2 AND status = 'PENDING' RETURNING id) SELECT id FROM u`,
      [chainId, id, verifier, att.statesMask.toString(), att.modalitiesMask, att.expiresAt, att.expiryReason],
    );
    return rows[0] ? this.findById(chainId, id) : null;
  }

  /** PENDING → REJECTED with the reason. null if the application is not pending (atomic). */
  async reject(chainId: number, id: string, verifier: string, reason: string): Promise<ApplicationRow | null> {
    const rows = await this.db.query(
      `WITH u AS (UPDATE credential_applications SET status = 'REJECTED', decided_at = now(), decided_by = $3, decision_reason = $4
       WHERE chain_id = $1 AND id = $2 AND status = 'PENDING' RETURNING id) SELECT id FROM u`,
      [chainId, id, verifier, reason],
    );
    return rows[0] ? this.findById(chainId, id) : null;
  }

  /** Marks the radiologist's approved application(s) REVOKED with the reason; returns how many. */
  async revoke(chainId: number, radiologist: string, verifier: string, reason: string): Promise<number> {
    const rows = await this.db.query(
      `WITH u AS (UPDATE credential_applications SET status = 'REVOKED', revoked_at = now(), revoked_by = $3, revocation_reason = $4
       WHERE chain_id = $1 AND applicant = $2 AND status = 'APPROVED' RETURNING id) SELECT id FROM u`,
      [chainId, radiologist, verifier, reason],
    );
    return rows.length;
  }

  /**
   * Live (not revoked) on-chain credentials that expire before `until` (chain time), with the reason recorded at
   * approval. Includes already lapsed ones (expires_at <= now) so the settler can tell them apart.
   */
  async expiringBefore(chainId: number, until: number, limit = 500): Promise<ExpiringCredential[]> {
    const rows = await this.db.query(
      `SELECT c.radiologist, c.expires_at,
         (SELECT a.expiry_reason FROM credential_applications a
          WHERE a.chain_id = c.chain_id AND a.applicant = c.radiologist AND a.status = 'APPROVED'
            AND a.credential_expires_at = c.expires_at
          ORDER BY a.decided_at DESC LIMIT 1) AS expiry_reason
       FROM credentials c
       WHERE c.chain_id = $1 AND NOT c.revoked AND c.expires_at < $2
       ORDER BY c.expires_at LIMIT $3`,
      [chainId, until, limit],
    );
    return rows.map((r: Record<string, any>) => ({
      radiologist: r.radiologist,
      expiresAt: Number(r.expires_at),
      expiryReason: r.expiry_reason,
    }));
  }

  /** The indexed on-chain credential of `radiologist`, if any. */
  async credentialOf(chainId: number, radiologist: string): Promise<{ states: string[]; modalities: string[]; expiresAt: number; revoked: boolean } | null> {
    const rows = await this.db.query(
      `SELECT states, modalities, expires_at, revoked FROM credentials WHERE chain_id = $1 AND radiologist = $2`,
      [chainId, radiologist],
    );
    if (!rows.length) return null;
    const r = rows[0];
    return { states: r.states.map((s: string) => s.trim()), modalities: r.modalities, expiresAt: Number(r.expires_at), revoked: r.revoked };
  }

  /** Records a notification once per (recipient, kind, dedupeKey); true if it is new. */
  async notify(chainId: number, recipient: string, kind: string, dedupeKey: string, message: string): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO notifications (chain_id, recipient, kind, dedupe_key, message) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING RETURNING id`,
      [chainId, recipient, kind, dedupeKey, message],
    );
    return rows.length === 1;
  }

  async notificationsOf(chainId: number, recipient: string, limit: number): Promise<NotificationRow[]> {
    const rows = await this.db.query(
      `SELECT id, kind, message, created_at FROM notifications WHERE chain_id = $1 AND recipient = $2 ORDER BY id DESC LIMIT $3`,
      [chainId, recipient, limit],
    );
    return rows.map((r: Record<string, any>) => ({ id: Number(r.id), kind: r.kind, message: r.message, createdAt: r.created_at }));
  }
}

function toApplication(r: Record<string, any>): ApplicationRow {
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
