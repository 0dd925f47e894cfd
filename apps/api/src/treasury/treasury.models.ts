import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { JSONObject, TYPED_DATA_DESCRIPTION, TYPED_DATA_V4_DESCRIPTION } from '../common/graphql/typed-data.js';

export const TreasuryProposalStatus = { PENDING: 'PENDING', EXECUTED: 'EXECUTED', REPLACED: 'REPLACED' } as const;
registerEnumType(TreasuryProposalStatus, {
  name: 'TreasuryProposalStatus',
  description: 'PENDING: collecting signatures or waiting for its nonce; EXECUTED; REPLACED: another transaction used its nonce',
});

const AMOUNT = { description: 'token base units, decimal string' };

@ObjectType({ description: 'The protocol treasury: the Safe the market credits its fees to.' })
export class Treasury {
  @Field() safe: string;
  @Field(() => [String]) owners: string[];
  @Field(() => Int, { description: 'owner signatures a transaction needs' }) threshold: number;
  @Field({ description: "the Safe's next transaction nonce (on chain)" }) nonce: string;
  @Field({ ...AMOUNT, description: "the Safe's market balance (collected fees, withdrawable)" }) marketBalance: string;
  @Field({ ...AMOUNT, description: "the Safe's token balance" }) tokenBalance: string;
}

@InputType()
export class TreasuryPaymentInput {
  @Field() to: string;
  @Field(AMOUNT) amount: string;
}

@ObjectType()
export class TreasuryPayment {
  @Field() to: string;
  @Field(AMOUNT) amount: string;
}

@ObjectType()
export class TreasurySignature {
  @Field() signer: string;
  @Field() signature: string;
  @Field(() => GraphQLISODateTime) createdAt: Date;
}

@ObjectType({ description: 'A treasury payout: one Safe transaction (MultiSend: market.withdraw + token transfers).' })
export class TreasuryProposal {
  @Field(() => ID) id: string;
  @Field() safe: string;
  @Field({ description: 'Safe nonce, decimal string' }) nonce: string;
  @Field({ description: 'EIP-712 SafeTx hash the owners sign' }) safeTxHash: string;
  @Field(() => JSONObject, { description: TYPED_DATA_DESCRIPTION }) typedData: Record<string, unknown>;
  @Field(() => JSONObject, { description: TYPED_DATA_V4_DESCRIPTION }) typedDataV4: Record<string, unknown>;
  @Field() to: string;
  @Field() value: string;
  @Field() data: string;
  @Field(() => Int, { description: '0 call, 1 delegatecall (MultiSend)' }) operation: number;
  @Field(() => [TreasuryPayment]) payments: TreasuryPayment[];
  @Field() description: string;
  @Field() proposer: string;
  @Field(() => ID, { nullable: true, description: 'the proposal this one replaces at the same nonce' }) replaces: string | null;
  @Field(() => TreasuryProposalStatus) status: string;
  @Field(() => String, { nullable: true }) executedTx: string | null;
  @Field(() => [TreasurySignature]) signatures: TreasurySignature[];
  @Field(() => GraphQLISODateTime) createdAt: Date;
}

@ObjectType()
export class TreasuryExecution {
  @Field() txHash: string;
  @Field(() => Int) blockNumber: number;
  @Field(() => TreasuryProposal) proposal: TreasuryProposal;
}
