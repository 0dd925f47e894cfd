import { Field, InputType, Int, ObjectType } from '@nestjs/graphql';
import { JSONObject, TYPED_DATA_DESCRIPTION, TYPED_DATA_V4_DESCRIPTION } from '../common/graphql/typed-data.js';

const UINT = { description: 'unsigned integer as a decimal string' };

@ObjectType({ description: 'An ERC-2771 forward request (OpenZeppelin ERC2771Forwarder) for the signer to sign with EIP-712.' })
export class ForwardRequestData {
  @Field() from: string;
  @Field() to: string;
  @Field(UINT) value: string;
  @Field({ description: 'gas forwarded to the inner call (decimal string)' }) gas: string;
  @Field({ description: "the forwarder's nonce for the signer (decimal string)" }) nonce: string;
  @Field(() => Int, { description: 'unix seconds after which the request is void' }) deadline: number;
  @Field() data: string;
}

@InputType()
export class ForwardRequestInput {
  @Field() from: string;
  @Field() to: string;
  @Field(UINT) value: string;
  @Field(UINT) gas: string;
  @Field(UINT) nonce: string;
  @Field(() => Int) deadline: number;
  @Field() data: string;
}

@ObjectType()
export class Eip712Domain {
  @Field() name: string;
  @Field() version: string;
  @Field(() => Int) chainId: number;
  @Field() verifyingContract: string;
}

@ObjectType({
  description:
    'Sign `request` with EIP-712 (ethers: `wallet.signTypedData(typedData.domain, typedData.types, typedData.message)`; a wallet: eth_signTypedData_v4 with `typedDataV4`), then call relayGasless with `request` and the signature.',
})
export class GaslessRequest {
  @Field(() => ForwardRequestData) request: ForwardRequestData;
  @Field(() => Eip712Domain) domain: Eip712Domain;
  @Field(() => JSONObject, { description: TYPED_DATA_DESCRIPTION }) typedData: Record<string, unknown>;
  @Field(() => JSONObject, { description: TYPED_DATA_V4_DESCRIPTION }) typedDataV4: Record<string, unknown>;
}
