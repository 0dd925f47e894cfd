import { TypedDataDomain, TypedDataEncoder, TypedDataField } from 'ethers';
import { CustomScalar, Scalar } from '@nestjs/graphql';

/**
 * A JSON object in a response (output only: inputs keep typed fields). A @Scalar class (a provider of the API module)
 * rather than a GraphQLScalarType value: Nest recognises the latter by instanceof, which fails when the graphql
 * package is loaded twice (its CommonJS and ESM builds).
 */
@Scalar('JSONObject', () => JSONObject)
export class JSONObject implements CustomScalar<Record<string, unknown>, Record<string, unknown>> {
  description = 'A JSON object, returned as-is (not as a string).';
  serialize(value: unknown): Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError('JSONObject must be an object');
    return value as Record<string, unknown>;
  }
  parseValue(): Record<string, unknown> {
    throw new TypeError('JSONObject is output only');
  }
  parseLiteral(): Record<string, unknown> {
    throw new TypeError('JSONObject is output only');
  }
}

export const TYPED_DATA_DESCRIPTION =
  'EIP-712 typed data as a JSON object { domain, types, primaryType, message }, in the shape ethers signs directly: `types` ' +
  'WITHOUT EIP712Domain, so `await wallet.signTypedData(typedData.domain, typedData.types, typedData.message)` (ethers v6; ' +
  'viem: `signTypedData({ domain, types, primaryType, message })`). Numbers too large for JSON are decimal strings.';
export const TYPED_DATA_V4_DESCRIPTION =
  'The same typed data as eth_signTypedData_v4 takes it (`types` WITH EIP712Domain, as wallets need it to hash the domain): ' +
  "`await provider.request({ method: 'eth_signTypedData_v4', params: [address, JSON.stringify(typedDataV4)] })`.";

/**
 * `typedData` (types without EIP712Domain: what ethers' signTypedData and viem take) and `typedDataV4` (with it:
 * eth_signTypedData_v4), with bigints as decimal strings. `types` must not contain EIP712Domain.
 */
export function typedDataShapes(
  domain: TypedDataDomain,
  types: Record<string, TypedDataField[]>,
  primaryType: string,
  message: Record<string, unknown>,
): { typedData: Record<string, unknown>; typedDataV4: Record<string, unknown> } {
  const plain = (v: unknown) =>
    JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))) as Record<string, unknown>;
  const typedData = plain({ domain, types, primaryType, message });
  // ethers derives EIP712Domain from the fields the domain has, exactly as it hashes it
  const v4 = TypedDataEncoder.getPayload(domain, types, message as Record<string, unknown>);
  return { typedData, typedDataV4: plain({ ...v4, primaryType }) };
}
