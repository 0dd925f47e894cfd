import { Field, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
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

export enum GaslessRequestState {
  QUEUED = 'QUEUED',
  SENT = 'SENT',
  MINED = 'MINED',
  REVERTED = 'REVERTED',
  FAILED = 'FAILED',
}
registerEnumType(GaslessRequestState, {
  name: 'GaslessRequestState',
  description:
    'QUEUED: accepted, not sent yet; SENT: in a transaction not mined yet; MINED: done (txHash); REVERTED: mined but reverted; FAILED: refused, nothing of it was executed (errorCode, errorMessage, reason)',
});

@ObjectType({
  description:
    'A gasless request as the relayer holds it, by its hash (the EIP-712 digest you signed: ethers `TypedDataEncoder.hash(domain, types, request)`). Sending the same signed request to relayGasless again never sends it twice: it answers this record.',
})
export class GaslessRequestStatus {
  @Field({ description: 'the EIP-712 digest of the forward request' }) requestHash: string;
  @Field(() => GaslessRequestState) status: GaslessRequestState;
  @Field({ description: 'the market function it calls' }) function: string;
  @Field({ description: "the forwarder's nonce of the request (decimal string)" }) nonce: string;
  @Field(() => String, { nullable: true, description: 'the transaction that executed it (MINED, REVERTED), or the one in flight (SENT)' })
  txHash: string | null;
  @Field(() => Int, { nullable: true }) blockNumber: number | null;
  @Field(() => String, { nullable: true, description: 'FAILED: the API error code the refusal maps to' }) errorCode: string | null;
  @Field(() => String, { nullable: true }) errorMessage: string | null;
  @Field(() => String, { nullable: true, description: "FAILED: the contract error's name, or SPEND_LIMIT" }) reason: string | null;
}
