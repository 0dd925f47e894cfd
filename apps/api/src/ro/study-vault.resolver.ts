import { Args, Context, Field, ID, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { keccak256 } from 'ethers';
import type { AccessLogEntry, LeaseRow } from '#db';
import { Authenticated, CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { RoleService } from '../auth/index.js';
import { PreparedTransaction, toPrepared } from '../common/graphql/index.js';
import { LeaseService } from './lease.service.js';
import { PostingService } from './posting.service.js';
import {
  AccessLogRecord,
  EncryptedReport,
  EncryptedStudy,
  LeaseInput,
  PendingLease,
  PreparedPosting,
  RoStudyPayload,
  StudyLease,
  StudyPostingInput,
} from './ro.models.js';

@ObjectType()
class PreparedReport {
  @Field({ description: 'keccak256 of the sealed report: what goes on chain' }) reportHash: string;
  @Field(() => PreparedTransaction) transaction: PreparedTransaction;
}

const b64 = (b: Buffer) => b.toString('base64');
const hex = (b: Buffer) => `0x${b.toString('hex')}`;
/** A served lease always is a claim-lease package (the service serves nothing else). */
const toLease = (l: LeaseRow & { claimedAt: number; ciphertext: Buffer }): StudyLease => ({
  studyId: l.studyId,
  radiologist: l.radiologist,
  recipientKey: l.recipientKey,
  wrappedKey: b64(l.wrappedKey),
  issuedAt: l.issuedAt,
  expiresAt: l.expiresAt,
  reportKey: l.reportKey,
  signer: l.signer,
  signature: l.signature,
  claimedAt: l.claimedAt,
  ciphertextHash: keccak256(l.ciphertext),
});
const toRecord = (e: AccessLogEntry): AccessLogRecord => ({ ...e, at: new Date(e.atMs) });

/** Posting, payloads, leases and reports: the lease protocol over GraphQL (see LeaseService). */
@Resolver()
export class StudyVaultResolver {
  constructor(
    private readonly postings: PostingService,
    private readonly leases: LeaseService,
    private readonly roles: RoleService,
  ) {}

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedPosting, {
    description:
      'Validates de-identified metadata (anything that looks like patient data is refused), generates a random study ID ' +
      'signs its issuance for your depositor wallet (the market accepts only issued IDs), and returns the complete postStudy ' +
      'transaction for that wallet to sign and relay.',
  })
  async prepareStudyPosting(@CurrentUser() user: AuthUser, @Args('input') input: StudyPostingInput): Promise<PreparedPosting> {
    const { studyId, issuedUntil, issuance, transaction } = await this.postings.prepare(user.address, input);
    return { studyId, issuedUntil: Number(issuedUntil), issuance, transaction: toPrepared(transaction) };
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => String, { description: 'Uploads the encrypted study (write-once); returns its sha256.' })
  async uploadStudyPayload(
    @CurrentUser() user: AuthUser,
    @Args('studyId', { type: () => ID }) studyId: string,
    @Args('ciphertext', { description: 'AES-256-GCM envelope under the study key (base64)' }) ciphertext: string,
    @Args('keyForRo', { description: 'the study key sealed to your RO key (base64), to issue leases later' }) keyForRo: string,
  ): Promise<string> {
    return (await this.postings.upload(user.address, studyId, ciphertext, keyForRo)).sha256;
  }

  @Roles('RO_DEPOSITOR')
  @Query(() => [PendingLease], { description: "Live claims on your RO's studies that still need a lease." })
  async pendingLeases(@CurrentUser() user: AuthUser): Promise<PendingLease[]> {
    const rows = await this.leases.pendingLeases(user.address);
    return rows.map((r) => ({
      ...r,
      leaseExpiresAt: new Date(r.leaseExpiresAt * 1000),
      expiresAt: r.leaseExpiresAt,
      keyForRo: b64(r.keyForRo),
    }));
  }

  @Roles('RO_DEPOSITOR')
  @Query(() => RoStudyPayload, {
    description: "Your RO's own copy of one of its studies, to re-encrypt under a fresh lease key for each claim (ciphertext only).",
  })
  async ownStudyPayload(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) studyId: string): Promise<RoStudyPayload> {
    const r = await this.leases.ownPayload(user.address, studyId);
    return { studyId: r.studyId, ciphertext: b64(r.ciphertext), keyForRo: b64(r.keyForRo) };
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => StudyLease, {
    description:
      "Stores the current claim's lease package: the study re-encrypted under a fresh lease key, that key sealed to the claimant, the terms signed by the study's posting wallet.",
  })
  async issueLease(@CurrentUser() user: AuthUser, @Args('lease') input: LeaseInput): Promise<StudyLease> {
    return toLease(await this.leases.issue(user.address, input));
  }

  @Authenticated()
  @Query(() => EncryptedStudy, {
    description: "Your claim's copy of the study and its lease, while your claim runs. Every attempt is written to the access log.",
  })
  async encryptedStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) studyId: string): Promise<EncryptedStudy> {
    const r = await this.leases.fetchPayload(user.address, await this.roles.rolesOf(user.address), studyId);
    return { studyId: r.studyId, ciphertext: b64(r.ciphertext), sha256: hex(r.sha256), lease: toLease(r.lease) };
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => PreparedReport, {
    description: 'Stores your report sealed to the RO key and returns submitReport (with its keccak256 only) to sign and relay.',
  })
  async submitEncryptedReport(
    @CurrentUser() user: AuthUser,
    @Args('studyId', { type: () => ID }) studyId: string,
    @Args('sealedReport', { description: 'the report sealed to the RO key (base64)' }) sealedReport: string,
  ): Promise<PreparedReport> {
    const { reportHash, transaction } = await this.leases.submitReport(user.address, studyId, sealedReport);
    return { reportHash, transaction: toPrepared(transaction) };
  }

  @Authenticated()
  @Query(() => EncryptedReport, { description: "The report on chain for one of your RO's studies, sealed to the RO key. Logged." })
  async encryptedReport(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('studyId', { type: () => ID }) studyId: string,
  ): Promise<EncryptedReport> {
    const r = await this.leases.fetchReport(user.address, ctx.req.roles ?? (await this.roles.rolesOf(user.address)), studyId);
    return { ...r, sealedReport: b64(r.sealedReport) };
  }

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => [AccessLogRecord], { description: "Who fetched (or tried to fetch) one of your RO's studies or its report." })
  async studyAccessLog(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('studyId', { type: () => ID }) studyId: string,
  ): Promise<AccessLogRecord[]> {
    return (await this.leases.accessLog(user.address, ctx.req.roles ?? new Set(), studyId)).map(toRecord);
  }
}
