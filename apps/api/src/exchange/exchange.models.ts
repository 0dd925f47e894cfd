import { Field, GraphQLISODateTime, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import type { AccessLogEntry, ExchangeCustodyRow, ExchangeKeyRow, ExchangeLeaseRow, ExchangeRoRow, LeasePackageRow } from '#db';
import type { AccessAlertRow, ExchangeNotificationRow, MisuseAccountRow } from '#db';
import { enumObject } from '#domain';
import { chainTime } from '../common/graphql/index.js';
import { PageInfo } from '../common/graphql/index.js';

export const EXCHANGE_LEASE_STATUSES = ['REQUESTED', 'GRANTED', 'DENIED', 'CANCELLED', 'RENEWED', 'EXPIRED'] as const;
export const ExchangeLeaseStatus = enumObject(EXCHANGE_LEASE_STATUSES);
registerEnumType(ExchangeLeaseStatus, {
  name: 'ExchangeLeaseStatus',
  description:
    'REQUESTED (fee escrowed, waiting for the custodian), GRANTED, RENEWED (granted and extended), DENIED and CANCELLED (fee refunded); ' +
    'EXPIRED: granted or renewed, and past its expiry by the chain time the index has reached (the chain itself stores no such state)',
});

@ObjectType({ description: 'An RO admitted to the imaging exchange (RoDirectory), named by its principal account.' })
export class ExchangeRo {
  @Field({ description: 'its principal account: where its exchange balance is kept' }) ro: string;
  @Field({ description: 'the holder of the admission role who admitted it' }) admittedBy: string;
  @Field(() => GraphQLISODateTime) admittedAt: Date;
  @Field({ description: 'a suspended RO can neither request nor grant leases' }) suspended: boolean;
  @Field(() => [String], { description: 'accounts acting for it now (the principal included), e.g. its agent' }) accounts: string[];
}

@ObjectType({ description: 'A registered key pair of an exchange RO: lease keys are wrapped to encryptionKey, grants signed by signer.' })
export class ExchangeKey {
  @Field({ description: 'the key ID a lease request names (never reused)' }) keyId: string;
  @Field() ro: string;
  @Field({ description: 'X25519 public key, 0x-hex (32 bytes)' }) encryptionKey: string;
  @Field({ description: "the address whose signature over a grant's ciphertext hash and terms the requester checks" }) signer: string;
  @Field(() => GraphQLISODateTime) addedAt: Date;
  @Field(() => GraphQLISODateTime, { nullable: true }) revokedAt: Date | null;
  @Field(() => String, { nullable: true, description: 'the key that replaced it, when it was rotated' }) replacedBy: string | null;
  @Field({ description: 'registered and not revoked: leases can be granted to it' }) live: boolean;
}

@ObjectType({ description: 'A lease of a study from its custodian RO (oRO) to a requesting RO (nRO), with its fees (token base units).' })
export class ExchangeLease {
  @Field() leaseId: string;
  @Field() studyId: string;
  @Field({ description: 'the requesting RO (principal account)' }) requester: string;
  @Field({ description: 'the RO that answered it, or (still requested) the study’s current custodian, who will' }) custodian: string;
  @Field({ description: "the requester's key the lease key is wrapped to" }) keyId: string;
  @Field(() => Int) periodSeconds: number;
  @Field({ description: 'retrieval fee snapshotted at request (also the price of each renewal)' }) fee: string;
  @Field(() => Int) maxRenewals: number;
  @Field(() => Int) renewalsLeft: number;
  @Field(() => Int) renewals: number;
  @Field(() => ExchangeLeaseStatus) status: string;
  @Field(() => GraphQLISODateTime) requestedAt: Date;
  @Field(() => GraphQLISODateTime, { nullable: true }) answeredAt: Date | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) expiresAt: Date | null;
  @Field(() => String, { nullable: true, description: 'hash of the lease key wrapped to the requester, as granted on chain' })
  wrappedKeyHash: string | null;
  @Field(() => String, { nullable: true, description: "hash of the lease's ciphertext, as granted on chain" }) ciphertextHash:
    string | null;
  @Field(() => String, { nullable: true, description: 'refunded to the requester (denied or cancelled)' }) refund: string | null;
  @Field({ description: 'paid to the custodian, grant and renewals together' }) paidToCustodian: string;
  @Field({ description: 'protocol fees paid to the treasury' }) protocolFees: string;
  @Field({ description: 'share held for storage holders' }) storageShare: string;
  @Field(() => Int, { description: 'uses after expiry the custodian recorded on chain' }) expiredUses: number;
  @Field({ description: 'the custodian reported the lessee for misuse of this lease' }) misuseReported: boolean;
}

@ObjectType()
export class CustodyChange {
  @Field({ description: 'the custodian from this change on' }) ro: string;
  @Field(() => String, { nullable: true, description: 'the previous custodian (null: the registration)' }) fromRo: string | null;
  @Field(() => String, { nullable: true, description: 'the account that transferred it' }) by: string | null;
  @Field() txHash: string;
  @Field(() => Int) blockNumber: number;
  @Field(() => GraphQLISODateTime) at: Date;
}

@ObjectType({ description: "A study registered in StudyCustody: its custodian RO, its encrypted manifest's hash, every owner it had." })
export class CustodyRecord {
  @Field() studyId: string;
  @Field({ description: 'the custodian RO (principal account)' }) ro: string;
  @Field() manifestHash: string;
  @Field(() => GraphQLISODateTime) registeredAt: Date;
  @Field(() => [CustodyChange], { description: 'oldest first' }) history: CustodyChange[];
  @Field(() => GraphQLISODateTime, {
    nullable: true,
    description: "when the study's patient revoked this custody (block time of CustodyRevoked); its leases ended then",
  })
  revokedAt: Date | null;
}

export const toExchangeRo = (r: ExchangeRoRow): ExchangeRo => ({ ...r, admittedAt: chainTime(r.admittedAt) });

export const toExchangeKey = (k: ExchangeKeyRow): ExchangeKey => ({
  ...k,
  addedAt: chainTime(k.addedAt),
  revokedAt: chainTime(k.revokedAt),
  live: k.revokedAt === null,
});

export const toExchangeLease = (l: ExchangeLeaseRow): ExchangeLease => ({
  ...l,
  fee: l.fee.toString(),
  requestedAt: chainTime(l.requestedAt),
  answeredAt: chainTime(l.answeredAt),
  expiresAt: chainTime(l.expiresAt),
  refund: l.refund === null ? null : l.refund.toString(),
  paidToCustodian: l.paidToCustodian.toString(),
  protocolFees: l.protocolFees.toString(),
  storageShare: l.storageShare.toString(),
});

export const toCustodyRecord = (c: ExchangeCustodyRow): CustodyRecord => ({
  ...c,
  registeredAt: chainTime(c.registeredAt),
  revokedAt: chainTime(c.revokedAt),
  history: c.history.map((h) => ({ ...h, at: chainTime(h.at) })),
});

@ObjectType({
  description:
    "A granted lease's package as the custodian's agent stored it: the study encrypted under the lease key, the lease key sealed " +
    "to the requester's registered key, and the terms the custodian signed (EIP-712 ExchangeLease). Check it against the chain " +
    '(openLease of #lease) before trusting it.',
})
export class LeasedStudy {
  @Field() leaseId: string;
  @Field() studyId: string;
  @Field({ description: 'the requesting RO (principal account)' }) requester: string;
  @Field({ description: 'the custodian RO that granted it (principal account)' }) custodian: string;
  @Field({ description: "the requester's RoDirectory key the lease key is sealed to" }) recipientKeyId: string;
  @Field({ description: "the custodian's RoDirectory key whose signer signed the terms" }) signerKeyId: string;
  @Field({ description: 'chain time (unix seconds) the lease key was made' }) issuedAt: string;
  @Field({ description: 'the expiry LeaseGranted set (unix seconds), as signed; a renewal moves the chain’s, not this one' })
  expiresAt: string;
  @Field({ description: 'the study encrypted under the lease key (base64)' }) ciphertext: string;
  @Field({ description: "the lease key sealed to the requester's key (base64)" }) wrappedKey: string;
  @Field({ description: "the custodian signer's EIP-712 signature of the terms (0x-hex)" }) signature: string;
}

@ObjectType({ description: 'One fetch of a lease package (leasedStudy), served or refused, from the append-only access log.' })
export class LeaseAccessRecord {
  @Field(() => Int) seq: number;
  @Field() studyId: string;
  @Field({ description: 'the wallet that fetched (a member of the requesting RO)' }) account: string;
  @Field({ description: 'GRANTED or REFUSED' }) outcome: string;
  @Field(() => String, {
    nullable: true,
    description:
      'why it was refused: NOT_REQUESTER, LEASE_NOT_GRANTED, CUSTODY_REVOKED (the patient revoked the study), LEASE_EXPIRED (use after expiry) or NO_PACKAGE',
  })
  reason: string | null;
  @Field(() => GraphQLISODateTime) at: Date;
}

export const toLeasedStudy = (p: LeasePackageRow): LeasedStudy => ({
  leaseId: p.leaseId.toString(),
  studyId: p.studyId,
  requester: p.requester,
  custodian: p.custodian,
  recipientKeyId: p.recipientKeyId.toString(),
  signerKeyId: p.signerKeyId.toString(),
  issuedAt: p.issuedAt.toString(),
  expiresAt: String(p.expiresAt),
  ciphertext: p.ciphertext.toString('base64'),
  wrappedKey: p.wrappedKey.toString('base64'),
  signature: p.signature!,
});

export const toLeaseAccessRecord = (e: AccessLogEntry): LeaseAccessRecord => ({ ...e, at: new Date(e.atMs) });

@ObjectType({ description: 'One misuse report on chain (StudyCustody.reportMisuse): the custodian reported an account of a lessee.' })
export class MisuseReport {
  @Field() leaseId: string;
  @Field() studyId: string;
  @Field({ description: 'the lessee RO (principal account) the account acted for' }) requester: string;
  @Field({ description: "the custodian's account that reported it" }) reporter: string;
  @Field(() => Int, { description: "the account's report count after this report" }) count: number;
  @Field() txHash: string;
  @Field(() => Int) blockNumber: number;
  @Field(() => GraphQLISODateTime, { description: 'block time' }) at: Date;
}

@ObjectType({ description: 'An account reported for misuse: its count and flag on chain, and the reports your RO made or received.' })
export class MisuseAccount {
  @Field() account: string;
  @Field(() => String, { nullable: true, description: 'the exchange RO it acts for now (null: no longer in RoDirectory)' }) ro:
    string | null;
  @Field({ description: 'that RO is suspended in RoDirectory (prepareSetRoSuspended)' }) roSuspended: boolean;
  @Field(() => Int, { description: 'every report against the account on chain' }) count: number;
  @Field(() => Int, { description: "the DAO's threshold (StudyCustody.misuseThreshold): reaching it flags the account" })
  threshold: number;
  @Field({ description: 'flagged for review (AccountFlagged, until the DAO clears it)' }) flagged: boolean;
  @Field(() => GraphQLISODateTime, { nullable: true }) flaggedAt: Date | null;
  @Field(() => [MisuseReport], { description: 'the reports your RO made (as custodian) or received (as lessee), newest first' })
  reports: MisuseReport[];
}

@ObjectType({ description: 'A page of misuse accounts, by account.' })
export class MisuseReportPage {
  @Field(() => Int, { description: "the DAO's current misuse threshold, read from the chain" }) threshold: number;
  @Field(() => [MisuseAccount]) items: MisuseAccount[];
  @Field(() => PageInfo) pageInfo: PageInfo;
}

export const EXCHANGE_NOTIFICATION_KINDS = [
  'EXPIRED_USE_RECORDED',
  'FETCH_REFUSED_EXPIRED',
  'LEASE_REQUESTED',
  'MISUSE_REPORTED',
  'ACCOUNT_FLAGGED',
] as const;
export const ExchangeNotificationKind = enumObject(EXCHANGE_NOTIFICATION_KINDS);
registerEnumType(ExchangeNotificationKind, {
  name: 'ExchangeNotificationKind',
  description:
    'EXPIRED_USE_RECORDED: a use after expiry of a lease you granted was recorded on chain; FETCH_REFUSED_EXPIRED: the API ' +
    'refused a fetch of a study you hold after its lease expired; LEASE_REQUESTED: a lease of a study you hold was requested; ' +
    'MISUSE_REPORTED: a custodian reported one of your accounts for misuse; ACCOUNT_FLAGGED: one of your accounts reached the ' +
    "DAO's misuse threshold",
});

@ObjectType({ description: 'Something in the imaging exchange your RO should know about.' })
export class ExchangeNotification {
  @Field({ description: 'stable key: what markExchangeNotificationsRead takes' }) id: string;
  @Field(() => ExchangeNotificationKind) kind: string;
  @Field(() => GraphQLISODateTime, { description: "block time for chain events, the API's clock for refused fetches" }) at: Date;
  @Field(() => String, { nullable: true }) leaseId: string | null;
  @Field(() => String, { nullable: true }) studyId: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'who used or tried the lease, who was reported or flagged, or (LEASE_REQUESTED) the requesting RO',
  })
  account: string | null;
  @Field(() => Int, { nullable: true, description: "the account's misuse count (MISUSE_REPORTED, ACCOUNT_FLAGGED)" }) count: number | null;
  @Field(() => String, { nullable: true }) txHash: string | null;
  @Field({ description: 'a member of your RO marked it read' }) read: boolean;
}

@ObjectType({ description: 'A page of exchange notifications, newest first.' })
export class ExchangeNotificationPage {
  @Field(() => [ExchangeNotification]) items: ExchangeNotification[];
  @Field(() => PageInfo) pageInfo: PageInfo;
}

export const ACCESS_ALERT_KINDS = ['EXPIRED_USE_RECORDED', 'FETCH_REFUSED_EXPIRED'] as const;
export const AccessAlertKind = enumObject(ACCESS_ALERT_KINDS);
registerEnumType(AccessAlertKind, {
  name: 'AccessAlertKind',
  description:
    'EXPIRED_USE_RECORDED: StudyCustody.ExpiredUseRecorded for one of your leases, as indexed; FETCH_REFUSED_EXPIRED: the API ' +
    'refused a leasedStudy fetch of a study you hold because its lease had expired (from the access log)',
});

@ObjectType({ description: 'A use, or an attempt, of a lease of your study after its expiry.' })
export class AccessAlert {
  @Field(() => AccessAlertKind) kind: string;
  @Field(() => String, {
    nullable: true,
    description:
      'the lease (FETCH_REFUSED_EXPIRED: null when the lessee holds several granted leases of the study; the log names no lease)',
  })
  leaseId: string | null;
  @Field() studyId: string;
  @Field({ description: 'the account that used or tried the lease' }) account: string;
  @Field(() => GraphQLISODateTime) at: Date;
  @Field(() => String, { nullable: true, description: 'the recording transaction (EXPIRED_USE_RECORDED)' }) txHash: string | null;
}

export const toMisuseAccount = (a: MisuseAccountRow, threshold: number): MisuseAccount => ({
  ...a,
  threshold,
  flaggedAt: chainTime(a.flaggedAt),
  reports: a.reports.map((r) => ({ ...r, at: chainTime(r.blockTime) })),
});

export const toExchangeNotification = (n: ExchangeNotificationRow): ExchangeNotification => ({
  id: n.key,
  kind: n.kind,
  at: new Date(n.atMs),
  leaseId: n.leaseId,
  studyId: n.studyId,
  account: n.account,
  count: n.count,
  txHash: n.txHash,
  read: n.read,
});

export const toAccessAlert = (a: AccessAlertRow): AccessAlert => ({
  kind: a.kind,
  leaseId: a.leaseId,
  studyId: a.studyId,
  account: a.account,
  at: new Date(a.atMs),
  txHash: a.txHash,
});
