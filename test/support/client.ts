import { INestApplication } from '@nestjs/common';
import { Agent } from 'node:http';
import { Wallet, HDNodeWallet } from 'ethers';
import { SiweMessage } from 'siwe';
import request from 'supertest';
import { signInMessage } from '#devchain';

// The tests read GraphQL answers as untyped JSON that their assertions check; a call passes T where it wants a type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default for untyped answers (see above)
export interface GqlResult<T = any> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/**
 * A GraphQL client over real HTTP (supertest against the running Nest server, or an API process at its base URL,
 * `http://127.0.0.1:4000`). `localAddress` makes it connect from another loopback address (127.0.0.2, …: another
 * client as far as the API can tell); `headers` go on every request.
 */
export class GqlClient {
  token: string | null = null;
  private readonly agent?: Agent;
  constructor(
    private readonly app: INestApplication | string,
    private readonly opts: { localAddress?: string; headers?: Record<string, string> } = {},
  ) {
    if (opts.localAddress) this.agent = new Agent({ localAddress: opts.localAddress });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as for GqlResult
  async send<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<T>> {
    const req = request(typeof this.app === 'string' ? this.app : this.app.getHttpServer())
      .post('/graphql')
      .set('content-type', 'application/json');
    if (this.agent) req.agent(this.agent);
    for (const [k, v] of Object.entries(this.opts.headers ?? {})) req.set(k, v);
    if (this.token) req.set('authorization', `Bearer ${this.token}`);
    const res = await req.send({ query, variables });
    return res.body as GqlResult<T>;
  }

  /** data, or throws with the error codes */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as for GqlResult
  async ok<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const r = await this.send<T>(query, variables);
    if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
    return r.data as T;
  }

  /** the error code of a request that must fail */
  async code(query: string, variables: Record<string, unknown> = {}): Promise<string> {
    const r = await this.send(query, variables);
    if (!r.errors?.length) throw new Error(`expected an error, got ${JSON.stringify(r.data)}`);
    for (const e of r.errors) if ('stacktrace' in (e.extensions ?? {})) throw new Error('a stack trace leaked to the client');
    return String(r.errors[0].extensions?.code);
  }

  /** Sign-In with Ethereum: nonce → sign EIP-4361 message → login. Any signer: an EOA wallet or a smart account's. */
  async signIn(
    wallet: { address: string; signMessage(message: string): Promise<string> },
    overrides: Partial<SiweMessage> = {},
  ): Promise<GqlResult & { message: string; signature: string }> {
    const { nonce } = await this.ok(`mutation { nonce { nonce domain uri chainId } }`);
    const message = signInMessage(nonce, wallet.address, overrides);
    const signature = await wallet.signMessage(message);
    const r = await this.send(`mutation($m: String!, $s: String!) { login(message: $m, signature: $s) { token address } }`, {
      m: message,
      s: signature,
    });
    if (r.data?.login) this.token = r.data.login.token;
    return Object.assign(r, { message, signature });
  }
}

/** Signs a prepared transaction from the API with the radiologist's wallet and hands it back to relayTransaction. */
export async function signPrepared(wallet: Wallet | HDNodeWallet, tx: { to: string; data: string; chainId: number; gasLimit: string }) {
  const populated = await wallet.populateTransaction({ to: tx.to, data: tx.data, chainId: tx.chainId, gasLimit: BigInt(tx.gasLimit) });
  return wallet.signTransaction(populated);
}
