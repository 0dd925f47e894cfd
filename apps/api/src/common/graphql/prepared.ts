import { Field, Int, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: 'A transaction for the caller to sign and send (or hand to relayTransaction).' })
export class PreparedTransaction {
  @Field() from: string;
  @Field() to: string;
  @Field() data: string;
  @Field(() => Int) chainId: number;
  @Field({ description: 'suggested gas limit (estimate + 20 %)' }) gasLimit: string;
}

/** An unsigned transaction as the API answers it (the gas limit as a decimal string). */
export function toPrepared(tx: { from: string; to: string; data: string; chainId: number; gasLimit: bigint }): PreparedTransaction {
  return { ...tx, gasLimit: tx.gasLimit.toString() };
}
