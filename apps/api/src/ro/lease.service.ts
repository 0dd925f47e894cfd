import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { keccak256 } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import {
  AccessAction,
  AccessLogRepository,
  LeaseRow,
  type PendingLeaseRow,
  RoRepository,
  StudyRepository,
  StudyVaultRepository,
} from '#db';
import { claimLeaseDomain, claimLeaseSigner, keyBindingDomain, verifyKeyBinding, type ClaimLeaseTerms } from '#lease';
import { chainUnavailable } from '../common/chain-errors.js';
import type { Role } from '../common/access.js';
import { ChainService, UnsignedTx } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';
import { parseAddress, parseStudyId } from '../common/validation.js';
import { parseBase64 } from './posting.service.js';
import { RoAccessService } from './ro-access.service.js';
import type { LeaseInput } from './ro.models.js';

/** How far in the future (chain time) a lease's issuedAt may be: clocks of the RO side and the chain differ. */
const ISSUED_AT_SKEW_SECONDS = 300;
/** A sealed claim-lease key: version ‖ ephemeral key ‖ nonce ‖ 32-byte lease key ‖ 8-byte time stamp ‖ tag. */
const SEALED_LEASE_KEY_BYTES = 1 + 32 + 12 + 32 + 8 + 16;
const MAX_REPORT_BYTES = 1024 * 1024;
/** Roles whose refused report fetches are worth a log row: RO staff (of another RO) and admins. */
const RO_ROLES: readonly Role[] = ['RO_BILLING', 'RO_DEPOSITOR', 'ADMIN'];

/**
 * The lease protocol on the server: accepts RO-signed claim-lease packages (a fresh lease key per claim, the study
 * re-encrypted under it: libs/lease claim-lease.ts) that match the indexed claim, hands the claim's own package to
 * the claimant only while the claim's lease runs (chain time), and writes every fetch and every refused attempt to
 * the append-only access log. Reports come back sealed to the RO key; only their hash goes on chain.
 */
@Injectable()
export class LeaseService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly access: RoAccessService,
    private readonly ros: RoRepository,
    private readonly vault: StudyVaultRepository,
    private readonly studies: StudyRepository,
    private readonly log: AccessLogRepository,
    private readonly chain: ChainService,
  ) {}

  async issue(depositor: string, input: LeaseInput): Promise<LeaseRow & { claimedAt: number; ciphertext: Buffer }> {
    const studyId = parseStudyId(input.studyId);
    const radiologist = parseAddress(input.radiologist, 'radiologist');
    const ro = await this.access.depositorRo(depositor);
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting || posting.roId !== ro.id) throw new OpenReadError('FORBIDDEN', "issue leases only for your RO's own studies");
    const study = await this.studies.findById(this.config.chainId, studyId);
    if (!study || study.status !== 'CLAIMED' || study.radiologist !== radiologist || study.leaseExpiresAt === null)
      throw new OpenReadError('CONFLICT', 'the study is not (or not yet, per the index) claimed by this radiologist');
    if (input.expiresAt !== study.leaseExpiresAt)
      throw new OpenReadError('BAD_INPUT', "expiresAt must equal the claim's lease expiry on chain", { expected: study.leaseExpiresAt });
    if (study.claimedAt === null || input.claimedAt !== study.claimedAt)
      throw new OpenReadError('BAD_INPUT', "claimedAt must equal the claim's time on chain", { expected: study.claimedAt });
    const claimedAt = study.claimedAt;
    // the cached clock may predate the claim the index already shows (a second old, or a jump of the chain's time):
    // read the node again before refusing an issuedAt the chain may well have reached
    let now = await this.chain.now();
    if (now < claimedAt || input.issuedAt > now + ISSUED_AT_SKEW_SECONDS) now = await this.chain.now(0);
    if (now > study.leaseExpiresAt) throw new OpenReadError('LEASE_EXPIRED', 'the claim lease has already expired');
    if (!Number.isInteger(input.issuedAt) || input.issuedAt < claimedAt || input.issuedAt > now + ISSUED_AT_SKEW_SECONDS)
      throw new OpenReadError('BAD_INPUT', 'issuedAt must lie between the claim and now (chain time)');
    const registered = await this.ros.encryptionKeyOf(this.config.chainId, radiologist);
    if (!registered || registered.publicKey !== input.recipientKey.toLowerCase())
      throw new OpenReadError('BAD_INPUT', "recipientKey must be the claimant's registered encryption key");
    if (!registered.binding || !(await this.bound(radiologist, registered.publicKey, registered.binding)))
      throw new OpenReadError('CONFLICT', "the claimant's encryption key is not bound to their wallet: they must register it again");
    if (input.reportKey.toLowerCase() !== ro.publicKey) throw new OpenReadError('BAD_INPUT', "reportKey must be your RO's report key");
    const wrappedKey = parseBase64(input.wrappedKey, 'wrappedKey');
    if (wrappedKey.length !== SEALED_LEASE_KEY_BYTES || wrappedKey[0] !== 1)
      throw new OpenReadError('BAD_INPUT', 'wrappedKey must be a time-stamped lease key sealed with ECIES-X25519 (v1)');
    const ciphertext = parseBase64(input.ciphertext, 'ciphertext');
    // the claim's copy is the study re-encrypted in the same envelope format: exactly the stored payload's size
    const payload = await this.vault.payload(this.config.chainId, studyId);
    if (!payload) throw new OpenReadError('CONFLICT', 'upload the study payload before issuing leases');
    if (ciphertext.length !== payload.ciphertext.length || ciphertext[0] !== 1)
      throw new OpenReadError(
        'BAD_INPUT',
        "ciphertext must be the study re-encrypted under the claim's lease key (v1, the payload's size)",
      );
    const terms: ClaimLeaseTerms = {
      studyId,
      radiologist,
      recipientKey: registered.publicKey,
      claimedAt,
      expiresAt: input.expiresAt,
      issuedAt: input.issuedAt,
      ciphertextHash: keccak256(ciphertext),
      wrappedKeyHash: keccak256(wrappedKey),
      reportKey: ro.publicKey,
    };
    let signer: string;
    try {
      signer = claimLeaseSigner(claimLeaseDomain(this.config.chainId, this.config.contracts.market), terms, input.signature);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'signature is not an EIP-712 signature');
    }
    // the radiologist checks the same thing against the chain: the lease is signed by the study's posting wallet
    if (signer !== study.ro) throw new OpenReadError('FORBIDDEN', 'the lease must be signed by the wallet that posted the study');
    const lease = { ...terms, wrappedKey, ciphertext, signer, signature: input.signature };
    if (!(await this.vault.insertLease(this.config.chainId, lease)))
      throw new OpenReadError('CONFLICT', 'a lease for this claim exists already');
    return lease;
  }

  private async bound(account: string, publicKey: string, binding: string): Promise<boolean> {
    try {
      return await verifyKeyBinding(
        this.chain.provider,
        keyBindingDomain(this.config.chainId, this.config.contracts.market),
        account,
        publicKey,
        binding,
      );
    } catch {
      throw chainUnavailable('cannot check a smart-account signature: the chain node is not reachable');
    }
  }

  /** The claim's package (its own ciphertext, lease key and terms), for the claimant while the claim runs. Logged either way. */
  async fetchPayload(account: string, roles: ReadonlySet<Role>, rawStudyId: string) {
    const studyId = parseStudyId(rawStudyId);
    const refuse = (reason: string, error: OpenReadError) => this.refuse(studyId, account, 'FETCH_PAYLOAD', reason, error);
    // refusals are logged only for studies that exist and for callers who could ever read one (radiologists): any
    // signed-in wallet could otherwise fill the append-only log, under its one lock, with random study IDs
    const study = await this.studies.findById(this.config.chainId, studyId);
    if (!study) throw new OpenReadError('NOT_FOUND', 'no such study');
    if (!roles.has('RADIOLOGIST')) throw new OpenReadError('FORBIDDEN', 'only credentialed radiologists read studies');
    if (study.radiologist !== account) {
      // a former claimant (lease released, study re-opened or re-claimed) holds an expired lease; anyone else never had one
      if (await this.vault.latestLease(this.config.chainId, studyId, account))
        return refuse('LEASE_EXPIRED', new OpenReadError('LEASE_EXPIRED', 'your lease on this study has ended'));
      return refuse('NOT_CLAIMANT', new OpenReadError('FORBIDDEN', 'only the radiologist holding the claim can fetch the study'));
    }
    const now = await this.chain.now();
    if (study.status !== 'CLAIMED' || study.leaseExpiresAt === null || now > study.leaseExpiresAt)
      return refuse('LEASE_EXPIRED', new OpenReadError('LEASE_EXPIRED', 'your lease on this study has ended'));
    // only this claim's package: a lease from before per-claim packages (the study key re-wrapped) is never served
    const lease = await this.vault.lease(this.config.chainId, studyId, account, study.leaseExpiresAt);
    if (!lease?.ciphertext || lease.claimedAt === null)
      return refuse('NO_LEASE', new OpenReadError('NOT_FOUND', 'the RO has not issued your lease yet; try again shortly'));
    await this.log.append({ chainId: this.config.chainId, studyId, account, action: 'FETCH_PAYLOAD', outcome: 'GRANTED' });
    const ciphertext = lease.ciphertext;
    return {
      studyId,
      ciphertext,
      sha256: createHash('sha256').update(ciphertext).digest(),
      lease: { ...lease, ciphertext, claimedAt: lease.claimedAt },
    };
  }

  /**
   * Stores the report sealed to the RO key and prepares submitReport with its keccak256: only the hash goes on
   * chain. The claimant only, while the lease runs.
   */
  async submitReport(account: string, rawStudyId: string, sealedB64: string): Promise<{ reportHash: string; transaction: UnsignedTx }> {
    const studyId = parseStudyId(rawStudyId);
    const sealed = parseBase64(sealedB64, 'sealedReport');
    if (sealed.length > MAX_REPORT_BYTES || sealed.length < 1 + 32 + 12 + 16 || sealed[0] !== 1)
      throw new OpenReadError('BAD_INPUT', 'sealedReport must be a report sealed to the RO key with ECIES-X25519 (v1), at most 1 MiB');
    const study = await this.studies.findById(this.config.chainId, studyId);
    if (!study || !(await this.vault.posting(this.config.chainId, studyId))) throw new OpenReadError('NOT_FOUND', 'no such study');
    if (study.radiologist !== account) throw new OpenReadError('FORBIDDEN', 'only the radiologist who claimed the study can report it');
    if (study.status !== 'CLAIMED' || study.leaseExpiresAt === null)
      throw new OpenReadError('LEASE_EXPIRED', 'the study is not (or no longer, per the index) under your claim');
    const reportHash = keccak256(sealed);
    const transaction = await this.chain.prepare(account, 'submitReport', [studyId, reportHash]);
    // one stored report per claim: the same bytes again are a retry; other bytes would pile up ciphertext
    const stored = await this.vault.storeReport(this.config.chainId, studyId, reportHash, account, sealed, study.leaseExpiresAt);
    if (stored === 'OTHER')
      throw new OpenReadError(
        'CONFLICT',
        'a different report is stored for this claim already: submit its transaction (one report per claim)',
      );
    return { reportHash, transaction };
  }

  /** The sealed report whose hash is on chain, for the RO's staff. Logged either way. */
  async fetchReport(account: string, roles: ReadonlySet<Role>, rawStudyId: string) {
    const studyId = parseStudyId(rawStudyId);
    // logged only for existing studies and callers with an RO role (staff of another RO), as for payloads
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting) throw new OpenReadError('NOT_FOUND', 'no such study');
    try {
      await this.access.requireMember(account, roles, posting.roId, ['BILLING', 'DEPOSITOR']);
    } catch (e) {
      if (!RO_ROLES.some((r) => roles.has(r))) throw e;
      return this.refuse(studyId, account, 'FETCH_REPORT', 'NOT_RO_MEMBER', e as OpenReadError);
    }
    const study = await this.studies.findById(this.config.chainId, studyId);
    const report = study?.reportHash ? await this.vault.report(this.config.chainId, studyId, study.reportHash) : null;
    if (!study?.reportHash || !report)
      return this.refuse(
        studyId,
        account,
        'FETCH_REPORT',
        'NO_REPORT',
        new OpenReadError('NOT_FOUND', 'no report on chain for this study yet'),
      );
    await this.log.append({ chainId: this.config.chainId, studyId, account, action: 'FETCH_REPORT', outcome: 'GRANTED' });
    return { studyId, reportHash: study.reportHash, radiologist: report.radiologist, sealedReport: report.ciphertext };
  }

  /** The access log of one study, for the RO's billing staff (or admins). */
  async accessLog(account: string, roles: ReadonlySet<Role>, rawStudyId: string) {
    const studyId = parseStudyId(rawStudyId);
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting) throw new OpenReadError('NOT_FOUND', 'no such study');
    await this.access.requireMember(account, roles, posting.roId, ['BILLING']);
    return this.log.forStudy(this.config.chainId, studyId);
  }

  private async refuse(studyId: string, account: string, action: AccessAction, reason: string, error: OpenReadError): Promise<never> {
    await this.log.append({ chainId: this.config.chainId, studyId, account, action, outcome: 'REFUSED', reason });
    throw error;
  }

  /**
   * The RO's own copy of one of its studies (the envelope under the study key, and that key sealed to the RO's key):
   * what the RO side re-encrypts for each claim. Neither opens without the RO's private key.
   */
  async ownPayload(depositor: string, rawStudyId: string): Promise<{ studyId: string; ciphertext: Buffer; keyForRo: Buffer }> {
    const studyId = parseStudyId(rawStudyId);
    const ro = await this.access.depositorRo(depositor);
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting || posting.roId !== ro.id) throw new OpenReadError('FORBIDDEN', "only your RO's own studies");
    const payload = await this.vault.payload(this.config.chainId, studyId);
    if (!payload) throw new OpenReadError('NOT_FOUND', 'no payload uploaded for this study');
    return { studyId, ciphertext: payload.ciphertext, keyForRo: payload.keyForRo };
  }

  /** Live claims on the depositor's RO's studies that still need a lease. */
  async pendingLeases(depositor: string): Promise<PendingLeaseRow[]> {
    const ro = await this.access.depositorRo(depositor);
    return this.vault.pendingLeases(this.config.chainId, ro.id, await this.chain.now());
  }
}
