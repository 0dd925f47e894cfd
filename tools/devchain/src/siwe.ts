import { SiweMessage } from 'siwe';

/** What the API's `nonce` mutation answers. */
export interface SignInNonce {
  nonce: string;
  domain: string;
  uri: string;
  chainId: number;
}

/** The EIP-4361 message a client signs to sign in as `address` (the tests, the bench's clients). */
export function signInMessage(nonce: SignInNonce, address: string, overrides: Partial<SiweMessage> = {}): string {
  return new SiweMessage({
    domain: nonce.domain,
    address,
    statement: 'Sign in to OpenRead',
    uri: nonce.uri,
    version: '1',
    chainId: nonce.chainId,
    nonce: nonce.nonce,
    issuedAt: new Date().toISOString(),
    ...overrides,
  }).prepareMessage();
}
