import type { TypedDataDomain } from 'ethers';

/** EIP-712 of OpenReadForwarder (OpenZeppelin ERC2771Forwarder): what a radiologist signs for a gasless call. */
export const FORWARDER_NAME = 'OpenRead Forwarder';

export const FORWARD_REQUEST_TYPES = {
  ForwardRequest: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'gas', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint48' },
    { name: 'data', type: 'bytes' },
  ],
};

export interface ForwardRequest {
  from: string;
  to: string;
  value: bigint;
  gas: bigint;
  nonce: bigint;
  deadline: number;
  data: string;
}

export const forwarderDomain = (chainId: number, forwarder: string): TypedDataDomain => ({
  name: FORWARDER_NAME,
  version: '1',
  chainId,
  verifyingContract: forwarder,
});
