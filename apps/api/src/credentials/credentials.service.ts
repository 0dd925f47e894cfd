import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { MODALITIES, attestationFor, isUsState, isValidNpi, parseCalendarDate } from '#domain';
import {
  ApplicationRow,
  CredentialRepository,
  DuplicatePendingApplication,
  NewApplication,
  NpiCredentialedElsewhere,
  type NotificationRow,
} from '#db';
import { ChainService, UnsignedTx } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';
import { decodeCursor, encodeCursor } from '../common/graphql/index.js';
import { parseLimit, subsetOf } from '../common/validation.js';
import { CredentialApplicationInput, SUBSPECIALTIES } from './credential.models.js';

const bad = (message: string) => new OpenReadError('BAD_INPUT', message);
/** Licence and certificate numbers: letters, digits, dashes, dots, slashes and spaces, 1–32 characters. */
const DOCUMENT_NUMBER = /^[A-Za-z0-9][A-Za-z0-9 ./-]{0,31}$/;
const MAX_YEARS_AHEAD = 10;

/**
 * Credential verification: a radiologist applies (personal data, kept in Postgres only), a verifier approves
 * (the API prepares CredentialRegistry.attest with masks and expiry only, for the verifier's wallet to sign and
 * relayTransaction to send) or rejects with a reason; a verifier can revoke. Nothing here is ever logged.
 */
@Injectable()
export class CredentialsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: CredentialRepository,
    private readonly chain: ChainService,
  ) {}

  /** Validates an application at chain time `now`; every problem is a BAD_INPUT naming the field, never echoing the value. */
  validate(applicant: string, input: CredentialApplicationInput, now: number): NewApplication {
    const npi = input.npi.trim();
    if (!isValidNpi(npi)) throw bad('npi is not a valid NPI (10 digits starting with 1 or 2, Luhn check digit with the 80840 prefix)');
    if (!input.licences.length) throw bad('licences: at least one state licence is needed');
    const latest = now + MAX_YEARS_AHEAD * 366 * 86400;
    const seen = new Set<string>();
    const licences = input.licences.map((l, i) => {
      const state = l.state.trim().toUpperCase();
      if (!isUsState(state)) throw bad(`licences[${i}].state is not a USPS code of a US state or DC`);
      if (seen.has(state)) throw bad(`licences[${i}].state: one licence per state`);
      seen.add(state);
      const licenceNumber = l.number.trim();
      if (!DOCUMENT_NUMBER.test(licenceNumber))
        throw bad(`licences[${i}].number must be 1-32 letters, digits, spaces, dots, dashes or slashes`);
      const expires = parseCalendarDate(l.expiresOn);
      if (expires === null) throw bad(`licences[${i}].expiresOn must be a real calendar date YYYY-MM-DD`);
      if (expires <= now) throw bad(`licences[${i}].expiresOn: the ${state} licence has already expired`);
      if (expires > latest) throw bad(`licences[${i}].expiresOn is more than ${MAX_YEARS_AHEAD} years ahead`);
      return { state, licenceNumber, expiresOn: l.expiresOn };
    });
    const modalities = subsetOf(input.modalities, MODALITIES, 'modalities')!;
    if (!modalities.length) throw bad('modalities: at least one modality is needed');
    if (new Set(modalities).size !== modalities.length) throw bad('modalities: each modality once');
    const subspecialties = [...new Set(subsetOf(input.subspecialties ?? [], SUBSPECIALTIES, 'subspecialties'))];
    const board = input.boardCertification;
    const boardCertificate = board.certificateNumber.trim();
    if (!DOCUMENT_NUMBER.test(boardCertificate))
      throw bad('boardCertification.certificateNumber must be 1-32 letters, digits, spaces, dots, dashes or slashes');
    if (board.expiresOn != null) {
      const t = parseCalendarDate(board.expiresOn);
      if (t === null) throw bad('boardCertification.expiresOn must be a real calendar date YYYY-MM-DD');
      if (t <= now) throw bad('boardCertification.expiresOn: the certificate has already expired');
    }
    return {
      chainId: this.config.chainId,
      applicant,
      npi,
      licences,
      modalities,
      subspecialties,
      board: board.board,
      boardCertificate,
      boardExpiresOn: board.expiresOn ?? null,
    };
  }

  async apply(applicant: string, input: CredentialApplicationInput): Promise<ApplicationRow> {
    const app = this.validate(applicant, input, await this.chain.now());
    try {
      return await this.repo.create(app);
    } catch (e) {
      if (e instanceof DuplicatePendingApplication) throw new OpenReadError('CONFLICT', 'you already have an application pending review');
      throw e;
    }
  }

  /**
   * Approves a pending application: computes what to attest (states, modalities, expiry = earliest licence
   * expiry capped at 36 months), simulates the attestation from the verifier's account, then records the
   * decision atomically (PENDING → APPROVED; a concurrent second decision gets CONFLICT, and so does an NPI that
   * another account holds an approved credential for: the database's constraint decides, even between two
   * concurrent approvals).
   */
  async approve(verifier: string, id: string): Promise<{ application: ApplicationRow; transaction: UnsignedTx }> {
    const app = await this.pendingApplication(verifier, id);
    const now = await this.chain.now();
    let att;
    try {
      att = attestationFor(
        app.licences.map((l) => ({ state: l.state, expiresAt: parseCalendarDate(l.expiresOn)! })),
        app.modalities,
        now,
      );
    } catch (e) {
      throw new OpenReadError('CONFLICT', `cannot approve: ${(e as Error).message}; reject the application and ask for a new one`);
    }
    const transaction = await this.attestation(verifier, app.applicant, att.statesMask, att.modalitiesMask, att.expiresAt);
    let approved: ApplicationRow | null;
    try {
      approved = await this.repo.approve(this.config.chainId, id, verifier, {
        statesMask: att.statesMask,
        modalitiesMask: Number(att.modalitiesMask),
        expiresAt: att.expiresAt,
        expiryReason: att.expiryReason.kind === 'LICENCE' ? `LICENCE:${att.expiryReason.state}` : 'RECREDENTIAL',
      });
    } catch (e) {
      if (e instanceof NpiCredentialedElsewhere)
        throw new OpenReadError(
          'CONFLICT',
          'this NPI is already credentialed to another account: one NPI, one wallet; revoke that credential first, or reject this application',
        );
      throw e;
    }
    if (!approved) throw new OpenReadError('CONFLICT', 'the application was decided meanwhile');
    return { application: approved, transaction };
  }

  /** The attestation transaction of an approved application again (e.g. the verifier's wallet lost it). */
  async attestationOf(verifier: string, id: string): Promise<UnsignedTx> {
    const app = await this.repo.findById(this.config.chainId, parseUuid(id));
    if (!app) throw new OpenReadError('NOT_FOUND', 'no such application');
    if (app.status !== 'APPROVED') throw new OpenReadError('CONFLICT', `the application is ${app.status}, not APPROVED`);
    return this.attestation(verifier, app.applicant, app.statesMask!, BigInt(app.modalitiesMask!), app.credentialExpiresAt!);
  }

  /** An application, for its applicant or a verifier only (anyone else gets NOT_FOUND: no probing of IDs). */
  async view(caller: string, isVerifier: boolean, id: string): Promise<ApplicationRow> {
    const app = await this.repo.findById(this.config.chainId, parseUuid(id));
    if (!app || (app.applicant !== caller && !isVerifier)) throw new OpenReadError('NOT_FOUND', 'no such application');
    return app;
  }

  async reject(verifier: string, id: string, reason: string): Promise<ApplicationRow> {
    const why = reasonOf(reason);
    await this.pendingApplication(verifier, id);
    const rejected = await this.repo.reject(this.config.chainId, id, verifier, why);
    if (!rejected) throw new OpenReadError('CONFLICT', 'the application was decided meanwhile');
    return rejected;
  }

  /** Prepares CredentialRegistry.revoke and marks the approved application REVOKED with the reason. */
  async revoke(verifier: string, radiologist: string, reason: string): Promise<UnsignedTx> {
    const why = reasonOf(reason);
    const credential = await this.repo.credentialOf(this.config.chainId, radiologist);
    if (!credential || credential.revoked) throw new OpenReadError('NOT_FOUND', 'the radiologist has no live credential to revoke');
    const tx = await this.chain.prepare(verifier, 'revoke', [radiologist], 'registry');
    await this.repo.revoke(this.config.chainId, radiologist, verifier, why);
    return tx;
  }

  async applicationsOf(applicant: string, first: number | null): Promise<ApplicationRow[]> {
    return this.repo.ofApplicant(this.config.chainId, applicant, parseLimit(first ?? undefined));
  }

  /** The verifiers' queue, oldest first, keyset-paginated by application ID. */
  async pending(
    first: number | null,
    after: string | null,
  ): Promise<{ items: ApplicationRow[]; hasNextPage: boolean; endCursor: string | null }> {
    const limit = parseLimit(first ?? undefined);
    const afterId = after ? decodeCursor(after, parseUuid, 'after is not a cursor of this queue') : undefined;
    const rows = await this.repo.pending(this.config.chainId, limit + 1, afterId);
    const items = rows.slice(0, limit);
    return { items, hasNextPage: rows.length > limit, endCursor: items.length ? encodeCursor(items.at(-1)!.id) : null };
  }

  /** The radiologist's credential as indexed, active while not revoked and not expired in chain time; null if never attested. */
  async credentialOf(radiologist: string) {
    const c = await this.repo.credentialOf(this.config.chainId, radiologist);
    if (!c) return null;
    const now = await this.chain.now();
    return { ...c, active: !c.revoked && c.expiresAt > now };
  }

  async notificationsOf(recipient: string, first: number | null): Promise<NotificationRow[]> {
    return this.repo.notificationsOf(this.config.chainId, recipient, parseLimit(first ?? undefined));
  }

  private attestation(verifier: string, radiologist: string, statesMask: bigint, modalitiesMask: bigint, expiresAt: number) {
    return this.chain.prepare(verifier, 'attest', [radiologist, statesMask, modalitiesMask, expiresAt], 'registry');
  }

  private async pendingApplication(verifier: string, id: string): Promise<ApplicationRow> {
    const app = await this.repo.findById(this.config.chainId, parseUuid(id));
    if (!app) throw new OpenReadError('NOT_FOUND', 'no such application');
    if (app.applicant === verifier) throw new OpenReadError('FORBIDDEN', 'a verifier cannot decide their own application');
    if (app.status !== 'PENDING') throw new OpenReadError('CONFLICT', `the application is already ${app.status}`);
    return app;
  }
}

export function parseUuid(id: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw bad('id is not an application ID');
  return id.toLowerCase();
}

function reasonOf(reason: string): string {
  const r = reason.trim();
  if (r.length < 3 || r.length > 500) throw bad('reason must be 3-500 characters');
  return r;
}
