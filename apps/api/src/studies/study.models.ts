import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { STUDY_STATUSES, enumObject } from '#domain';
import { StudyRow } from '#db';
import { Modality, PageInfo, Urgency, chainTime } from '../common/graphql/index.js';
import { Finality, type FinalityView } from '../indexer/index.js';

export const StudyStatus = enumObject(STUDY_STATUSES.filter((s) => s !== 'NONE'));
export enum WorklistSort {
  BOUNTY_DESC = 'BOUNTY_DESC',
  WAITING_DESC = 'WAITING_DESC',
}
registerEnumType(StudyStatus, { name: 'StudyStatus' });
registerEnumType(WorklistSort, { name: 'WorklistSort', description: 'highest current bounty first, or longest waiting first' });

const AMOUNT = { description: 'token base units (6 decimals), as a decimal string' };

@ObjectType({ description: 'A de-identified study as indexed from the chain. Amounts are token base units.' })
export class Study {
  @Field(() => ID, { description: 'random 32-byte study ID' }) id: string;
  @Field({ description: 'the posting radiology organisation (address)' }) ro: string;
  @Field(() => Modality) modality: string;
  @Field(() => Urgency) urgency: string;
  @Field({ description: "patient's state (USPS code)" }) patientState: string;
  @Field(() => Int, { description: 'difficulty/RVU multiplier, basis points' }) difficultyBps: number;
  @Field(AMOUNT) maxBounty: string;
  @Field(() => GraphQLISODateTime) postedAt: Date;
  @Field(() => StudyStatus) status: string;
  @Field(() => String, { nullable: true }) radiologist: string | null;
  @Field(() => String, { nullable: true, ...AMOUNT }) lockedBounty: string | null;
  @Field(() => Int, { nullable: true }) feeBps: number | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) leaseExpiresAt: Date | null;
  @Field(() => String, { nullable: true, description: 'hash of the report, as recorded on chain' }) reportHash: string | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) reportedAt: Date | null;
  @Field(() => GraphQLISODateTime, { nullable: true, description: 'the RO may dispute until then' }) disputeDeadline: Date | null;
  @Field(() => String, { nullable: true, ...AMOUNT }) payout: string | null;
  @Field(() => String, { nullable: true, ...AMOUNT }) fee: string | null;
  @Field(() => String, { nullable: true, ...AMOUNT }) refund: string | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) settledAt: Date | null;
  @Field(() => String, { nullable: true, description: 'bounty if claimed now, token base units (open studies only)' })
  currentBounty: string | null;
  @Field(() => Int, { description: 'seconds since posting, chain time' }) waitingSeconds: number;
  @Field(() => Int, { description: 'blocks on top of the block that last changed this study' }) confirmations: number;
  @Field(() => Finality, {
    description: 'PENDING while the last change (e.g. the settlement) is within the finality depth and could still be undone by a reorg',
  })
  finality: string;

  static from(r: StudyRow, asOf: number, currentBounty: bigint | null = null, finality?: FinalityView): Study {
    return Object.assign(new Study(), {
      id: r.studyId,
      ro: r.ro,
      modality: r.modality,
      urgency: r.urgency,
      patientState: r.patientState,
      difficultyBps: r.difficultyBps,
      maxBounty: r.maxBounty.toString(),
      postedAt: chainTime(r.postedAt),
      status: r.status,
      radiologist: r.radiologist,
      lockedBounty: r.lockedBounty?.toString() ?? null,
      feeBps: r.feeBps,
      leaseExpiresAt: chainTime(r.leaseExpiresAt),
      reportHash: r.reportHash,
      reportedAt: chainTime(r.reportedAt),
      disputeDeadline: chainTime(r.disputeDeadline),
      payout: r.payout?.toString() ?? null,
      fee: r.fee?.toString() ?? null,
      refund: r.refund?.toString() ?? null,
      settledAt: chainTime(r.settledAt),
      currentBounty: currentBounty?.toString() ?? null,
      waitingSeconds: Math.max(0, asOf - r.postedAt),
      ...(finality ? finality.of(r.updatedBlock) : { confirmations: 0, finality: Finality.PENDING }),
    });
  }
}

@InputType()
export class WorklistFilter {
  @Field(() => [Modality], { nullable: true }) modalities?: string[];
  @Field(() => [String], { nullable: true, description: 'USPS state codes' }) states?: string[];
  @Field(() => [Urgency], { nullable: true }) urgencies?: string[];
  @Field({ nullable: true, description: 'only studies whose current bounty is at least this (base units)' }) minBounty?: string;
}

@ObjectType()
export class WorklistPage {
  @Field(() => [Study]) items: Study[];
  @Field(() => PageInfo) pageInfo: PageInfo;
  @Field(() => GraphQLISODateTime, { description: 'chain time the bounties were computed at; later pages keep it' })
  asOf: Date;
}

@ObjectType()
export class RelayedTransaction {
  @Field() txHash: string;
  @Field(() => Int) blockNumber: number;
  @Field({ description: 'the contract function called' }) function: string;
  @Field({
    description:
      "true when the API's index already includes the block: queries reflect the transaction. false only when the index did not " +
      'reach it within a few seconds (e.g. INDEXER_CONFIRMATIONS > 0 on a chain that mines on demand); checks made by the prepare* ' +
      'operations read the chain when the index lags, so they never contradict this answer.',
  })
  indexed: boolean;
}
