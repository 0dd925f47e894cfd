import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { PARAMETER_SETTERS, PROPOSAL_STATES, VOTE_SUPPORT } from '#chain';
import { enumObject } from '#domain';
import { JSONObject, TYPED_DATA_DESCRIPTION, TYPED_DATA_V4_DESCRIPTION } from '../common/graphql/typed-data.js';

export const ProposalState = enumObject(PROPOSAL_STATES);
export const ParameterName = enumObject(Object.keys(PARAMETER_SETTERS) as (keyof typeof PARAMETER_SETTERS)[]);
export const VoteSupport = enumObject(Object.keys(VOTE_SUPPORT) as (keyof typeof VOTE_SUPPORT)[]);
registerEnumType(ProposalState, { name: 'ProposalState', description: 'OpenZeppelin Governor proposal states' });
registerEnumType(ParameterName, { name: 'ParameterName', description: 'incentive parameters a proposal can change' });
registerEnumType(VoteSupport, { name: 'VoteSupport' });

const VOTES = { description: 'votes (membership token base units, 1e18 = one member), decimal string' };

@ObjectType()
export class ParameterValue {
  @Field(() => ParameterName) name: string;
  @Field(() => Int, { description: 'urgency index (urgencyMultiplierBps), modality index (baseBounty), else 0' }) key: number;
  @Field({ description: 'decimal string (bps, seconds or token base units, by parameter)' }) value: string;
}

@ObjectType({ description: 'One call a proposal makes when executed.' })
export class ProposalAction {
  @Field() target: string;
  @Field({ description: 'wei sent with the call, decimal string' }) value: string;
  @Field() calldata: string;
  @Field(() => ParameterValue, { nullable: true, description: 'the parameter change, when the call is an IncentiveParameters setter' })
  parameterChange: ParameterValue | null;
}

@ObjectType({ description: 'A DAO proposal: indexed data plus its live state and quorum from the governor.' })
export class Proposal {
  @Field(() => ID, { description: 'governor proposal ID (uint256, decimal)' }) id: string;
  @Field() proposer: string;
  @Field() description: string;
  @Field(() => ProposalState) state: string;
  @Field(VOTES) forVotes: string;
  @Field(VOTES) againstVotes: string;
  @Field(VOTES) abstainVotes: string;
  @Field({ ...VOTES, description: 'votes needed (for + abstain) at the proposal snapshot' }) quorum: string;
  @Field(() => GraphQLISODateTime, { description: 'voting opens after this time (snapshot)' }) voteStart: Date;
  @Field(() => GraphQLISODateTime, { description: 'voting closes at this time (late quorum may have moved it)' }) voteEnd: Date;
  @Field(() => GraphQLISODateTime, { nullable: true, description: 'executable from (once queued)' }) eta: Date | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) executedAt: Date | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) canceledAt: Date | null;
  @Field(() => GraphQLISODateTime) createdAt: Date;
  @Field(() => [ProposalAction]) actions: ProposalAction[];
}

@ObjectType({ description: 'One change of an incentive parameter, as recorded on chain.' })
export class ParameterChange extends ParameterValue {
  @Field(() => GraphQLISODateTime) changedAt: Date;
  @Field(() => Int) blockNumber: number;
  @Field() txHash: string;
  @Field(() => ID, { nullable: true, description: 'the proposal whose execution made it; null for deployment defaults' })
  proposalId: string | null;
  @Field(() => String, { nullable: true }) proposalDescription: string | null;
}

@ObjectType()
export class Parameters {
  @Field(() => [ParameterValue]) current: ParameterValue[];
  @Field(() => [ParameterChange], { description: 'newest first' }) history: ParameterChange[];
}

@InputType()
export class ParameterChangeInput {
  @Field(() => ParameterName) name: string;
  @Field(() => Int, { defaultValue: 0, description: 'urgency / modality index for keyed parameters' }) key: number;
  @Field({ description: 'new value, decimal string' }) value: string;
}

@ObjectType({ description: 'EIP-712 typed data of a castVoteBySig ballot, to sign with eth_signTypedData_v4.' })
export class Ballot {
  @Field(() => JSONObject, { description: TYPED_DATA_DESCRIPTION }) typedData: Record<string, unknown>;
  @Field(() => JSONObject, { description: TYPED_DATA_V4_DESCRIPTION }) typedDataV4: Record<string, unknown>;
  @Field() nonce: string;
}

@ObjectType()
export class GovernanceTransaction {
  @Field() txHash: string;
  @Field(() => Int) blockNumber: number;
  @Field({ description: 'the governor function the service called' }) function: string;
}
