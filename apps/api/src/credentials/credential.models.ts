import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import type { ApplicationRow, NotificationRow } from '#db';
import { Modality, PageInfo, PreparedTransaction } from '../common/graphql/index.js';

export enum BoardCertifier {
  ABR = 'ABR',
  AOBR = 'AOBR',
}
export const SUBSPECIALTIES = [
  'BREAST',
  'CARDIAC',
  'CHEST',
  'EMERGENCY',
  'GI',
  'GU',
  'INTERVENTIONAL',
  'MSK',
  'NEURO',
  'NUCLEAR',
  'PEDIATRIC',
] as const;
export const Subspecialty = Object.fromEntries(SUBSPECIALTIES.map((s) => [s, s])) as Record<(typeof SUBSPECIALTIES)[number], string>;
export enum ApplicationStatus {
  PENDING = 'PENDING',
  APPROVED = 'APPROVED',
  REJECTED = 'REJECTED',
  REVOKED = 'REVOKED',
}
registerEnumType(BoardCertifier, {
  name: 'BoardCertifier',
  description: 'American Board of Radiology, American Osteopathic Board of Radiology',
});
registerEnumType(Subspecialty, { name: 'Subspecialty' });
registerEnumType(ApplicationStatus, { name: 'CredentialApplicationStatus' });

@InputType()
export class LicenceInput {
  @Field({ description: 'USPS code of the licensing state (50 states + DC)' }) state: string;
  @Field({ description: 'state licence number (kept off chain)' }) number: string;
  @Field({ description: 'expiry date, YYYY-MM-DD; the licence counts as lapsed from 00:00 UTC that day' }) expiresOn: string;
}

@InputType()
export class BoardCertificationInput {
  @Field(() => BoardCertifier) board: BoardCertifier;
  @Field({ description: 'certificate number (kept off chain)' }) certificateNumber: string;
  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD, if the certificate is time-limited' }) expiresOn?: string | null;
}

@InputType()
export class CredentialApplicationInput {
  @Field({ description: '10-digit National Provider Identifier' }) npi: string;
  @Field(() => [LicenceInput]) licences: LicenceInput[];
  @Field(() => [Modality]) modalities: string[];
  @Field(() => [Subspecialty], { nullable: true }) subspecialties?: string[] | null;
  @Field(() => BoardCertificationInput) boardCertification: BoardCertificationInput;
}

@ObjectType()
export class Licence {
  @Field() state: string;
  @Field() number: string;
  @Field() expiresOn: string;
}

@ObjectType()
export class BoardCertification {
  @Field(() => BoardCertifier) board: string;
  @Field() certificateNumber: string;
  @Field(() => String, { nullable: true }) expiresOn: string | null;
}

@ObjectType({ description: 'A credential application: visible to the applicant and to verifiers only.' })
export class CredentialApplication {
  @Field(() => ID) id: string;
  @Field() applicant: string;
  @Field() npi: string;
  @Field(() => [Licence]) licences: Licence[];
  @Field(() => [Modality]) modalities: string[];
  @Field(() => [Subspecialty]) subspecialties: string[];
  @Field(() => BoardCertification) boardCertification: BoardCertification;
  @Field(() => ApplicationStatus) status: string;
  @Field(() => GraphQLISODateTime) submittedAt: Date;
  @Field(() => GraphQLISODateTime, { nullable: true }) decidedAt: Date | null;
  @Field(() => String, { nullable: true }) decidedBy: string | null;
  @Field(() => String, { nullable: true, description: 'why it was rejected' }) rejectionReason: string | null;
  @Field(() => GraphQLISODateTime, { nullable: true, description: 'expiry attested on approval' }) credentialExpiresAt: Date | null;
  @Field(() => String, {
    nullable: true,
    description: 'what the expiry is: RECREDENTIAL (36 months after approval) or LICENCE:<state> (earliest licence expiry)',
  })
  expiryReason: string | null;
  @Field(() => String, { nullable: true }) revocationReason: string | null;

  static from(r: ApplicationRow): CredentialApplication {
    return Object.assign(new CredentialApplication(), {
      id: r.id,
      applicant: r.applicant,
      npi: r.npi,
      licences: r.licences.map((l) => ({ state: l.state, number: l.licenceNumber, expiresOn: l.expiresOn })),
      modalities: r.modalities,
      subspecialties: r.subspecialties,
      boardCertification: { board: r.board, certificateNumber: r.boardCertificate, expiresOn: r.boardExpiresOn },
      status: r.status,
      submittedAt: r.submittedAt,
      decidedAt: r.decidedAt,
      decidedBy: r.decidedBy,
      rejectionReason: r.status === 'REJECTED' ? r.decisionReason : null,
      credentialExpiresAt: r.credentialExpiresAt === null ? null : new Date(r.credentialExpiresAt * 1000),
      expiryReason: r.expiryReason,
      revocationReason: r.revocationReason,
    });
  }
}

@ObjectType()
export class CredentialApplicationPage {
  @Field(() => [CredentialApplication]) items: CredentialApplication[];
  @Field(() => PageInfo) pageInfo: PageInfo;
}

@ObjectType()
export class ApplicationDecision {
  @Field(() => CredentialApplication) application: CredentialApplication;
  @Field(() => PreparedTransaction, {
    nullable: true,
    description: 'on approval: the attestation for the verifier to sign and send with relayTransaction',
  })
  transaction: PreparedTransaction | null;
}

@ObjectType({ description: 'Your on-chain credential as indexed: what eligibility is decided on.' })
export class Credential {
  @Field(() => [String]) states: string[];
  @Field(() => [Modality]) modalities: string[];
  @Field(() => GraphQLISODateTime) expiresAt: Date;
  @Field() revoked: boolean;
  @Field({ description: 'not revoked and not expired at chain time' }) active: boolean;
}

@ObjectType()
export class Notification {
  @Field(() => Int) id: number;
  @Field({ description: 'CREDENTIAL_EXPIRING or CREDENTIAL_LAPSED' }) kind: string;
  @Field() message: string;
  @Field(() => GraphQLISODateTime) createdAt: Date;

  static from(n: NotificationRow): Notification {
    return Object.assign(new Notification(), n);
  }
}
