import { Field, Int, ObjectType } from '@nestjs/graphql';
import { JSONObject, TYPED_DATA_DESCRIPTION, TYPED_DATA_V4_DESCRIPTION } from '../common/graphql/index.js';

@ObjectType({
  description:
    'An ERC-2612 permit for the market to take `amount` from your depositor wallet, to sign with EIP-712 and pass to prepareGaslessRoDeposit.',
})
export class DepositPermit {
  @Field(() => JSONObject, { description: TYPED_DATA_DESCRIPTION }) typedData: Record<string, unknown>;
  @Field(() => JSONObject, { description: TYPED_DATA_V4_DESCRIPTION }) typedDataV4: Record<string, unknown>;
  @Field({ description: 'token base units, as asked' }) amount: string;
  @Field(() => Int, { description: "the permit's deadline (unix seconds): pass it to prepareGaslessRoDeposit" }) deadline: number;
}

@ObjectType({ description: "A wallet's balance in the study market: what it can withdraw now (escrowed bounties are not included)." })
export class RadiologistBalance {
  @Field() account: string;
  @Field({ description: 'token base units the wallet can withdraw now: its market balance (balanceOf), read from the chain' })
  withdrawable: string;
  @Field(() => Int, { description: 'the chain block the balance was read at' }) asOfBlock: number;
}

@ObjectType({ description: 'One depositor wallet of an RO and its market balance (withdrawable or available to escrow for postings).' })
export class DepositorBalance {
  @Field() account: string;
  @Field({
    description:
      "token base units: the wallet's market balance (balanceOf) from the chain; bounties already escrowed by postings are not included",
  })
  balance: string;
}
