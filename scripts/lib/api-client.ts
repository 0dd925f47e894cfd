import type { Signer, TypedDataDomain, TypedDataField } from 'ethers';
import { type SignInNonce, signInMessage } from '#devchain';

/** A GraphQL error as the API answers it (`extensions.code` is one of the closed error codes). */
export interface ApiError {
  message: string;
  extensions?: { code?: string } & Record<string, unknown>;
}

/** An API error thrown by {@link ApiClient.gql}: the first error's code and message. */
export class ApiCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly errors: ApiError[],
  ) {
    super(`${code}: ${message}`);
  }
}

/** A transaction from a prepare* operation (PreparedTransaction). */
export interface PreparedTransaction {
  from?: string;
  to: string;
  data: string;
  chainId: number;
  gasLimit: string;
}

/** A gasless request from a prepareGasless* operation (GaslessRequest): the forward request and its EIP-712 typed data. */
export interface GaslessRequest {
  request: Record<string, unknown>;
  typedData: { domain: TypedDataDomain; types: Record<string, TypedDataField[]>; primaryType: string; message: Record<string, unknown> };
}

/** What relayTransaction and relayGasless answer (RELAYED_FIELDS). */
export interface Relayed {
  txHash: string;
  blockNumber: number;
  function: string;
  indexed: boolean;
}

export const PREPARED_FIELDS = 'from to data chainId gasLimit';
export const GASLESS_FIELDS = 'request { from to value gas nonce deadline data } typedData';
export const RELAYED_FIELDS = 'txHash blockNumber function indexed';

/**
 * A small OpenRead API client over HTTP (fetch), as a script or an app would use it: Sign-In with Ethereum, GraphQL
 * calls, and signing + relaying what the prepare* operations return. Used by `npm run demo` and the tests.
 */
export class ApiClient {
  token: string | null = null;
  address: string | null = null;

  constructor(readonly url: string) {}

  /** Sends one operation; answers the whole response body (data and errors). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the end-to-end tests read untyped results; they pass T when they are typed
  async send<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<{ data?: T; errors?: ApiError[] }> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const text = await res.text();
    try {
      return JSON.parse(text) as { data?: T; errors?: ApiError[] };
    } catch {
      throw new Error(`the API at ${this.url} answered HTTP ${res.status} without JSON`);
    }
  }

  /** The operation's data; throws an {@link ApiCallError} if the API answered errors. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as for send
  async gql<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const r = await this.send<T>(query, variables);
    if (r.errors?.length) throw new ApiCallError(String(r.errors[0].extensions?.code ?? 'UNKNOWN'), r.errors[0].message, r.errors);
    return r.data as T;
  }

  /** Sign-In with Ethereum: nonce → sign the EIP-4361 message with the wallet → login; keeps the session token. */
  async signIn(wallet: { address: string; signMessage(message: string): Promise<string> }): Promise<this> {
    const { nonce } = await this.gql<{ nonce: SignInNonce }>(`mutation { nonce { nonce domain uri chainId } }`);
    const message = signInMessage(nonce, wallet.address);
    const signature = await wallet.signMessage(message);
    const { login } = await this.gql<{ login: { token: string; address: string } }>(
      `mutation($m: String!, $s: String!) { login(message: $m, signature: $s) { token address } }`,
      { m: message, s: signature },
    );
    this.token = login.token;
    this.address = login.address;
    return this;
  }

  /**
   * Signs a PreparedTransaction with the wallet (a connected ethers Signer: it fills the nonce and fees) and sends it
   * with relayTransaction, which answers once it is mined (and indexed).
   */
  async signAndRelay(wallet: Signer, tx: PreparedTransaction): Promise<Relayed> {
    const populated = await wallet.populateTransaction({ to: tx.to, data: tx.data, chainId: tx.chainId, gasLimit: BigInt(tx.gasLimit) });
    const signed = await wallet.signTransaction(populated);
    const { relayTransaction } = await this.gql<{ relayTransaction: Relayed }>(
      `mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { ${RELAYED_FIELDS} } }`,
      { tx: signed },
    );
    return relayTransaction;
  }

  /** Signs a GaslessRequest's typed data as the API gives it and hands it to relayGasless (the service pays the gas). */
  async signAndRelayGasless(wallet: Signer, prepared: GaslessRequest): Promise<Relayed> {
    const { domain, types, message } = prepared.typedData;
    const signature = await wallet.signTypedData(domain, types, message);
    const { relayGasless } = await this.gql<{ relayGasless: Relayed }>(
      `mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { ${RELAYED_FIELDS} } }`,
      { r: prepared.request, s: signature },
    );
    return relayGasless;
  }
}
