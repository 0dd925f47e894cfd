/**
 * Many radiologists claiming one study at once, over the GraphQL API's real HTTP: the contention test
 * (test/contention.e2e.test.ts) checks the outcome of these races, the claim bench (scripts/bench/claim.ts) times
 * them. A claim is the gasless path a radiologist's client takes: prepareGaslessClaim → sign the EIP-712 forward
 * request with the wallet → relayGasless.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Wallet, hexlify, randomBytes, type Contract, type JsonRpcProvider, type TransactionReceipt, type TypedDataDomain } from 'ethers';
import { FORWARD_REQUEST_TYPES, waitForReceipt, issuanceArgs, studyIdIssuerFor } from '#chain';
import { modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { type SignInNonce, signInMessage } from './siwe.js';

export interface GraphqlResult<T = unknown> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A GraphQL client over HTTP (fetch: one kept-alive connection per concurrent request, like a browser's). */
export class GraphqlHttp {
  token: string | null = null;
  constructor(readonly url: string) {}

  async send<T = unknown>(query: string, variables: Record<string, unknown> = {}): Promise<GraphqlResult<T>> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.token && { authorization: `Bearer ${this.token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as GraphqlResult<T>;
  }

  async ok<T = unknown>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const r = await this.send<T>(query, variables);
    if (r.errors?.length || !r.data) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
    return r.data;
  }

  /** Sign-In with Ethereum: nonce → EIP-4361 message signed by the wallet → login. */
  async signIn(wallet: Wallet): Promise<void> {
    const { nonce } = await this.ok<{ nonce: SignInNonce }>(`mutation { nonce { nonce domain uri chainId } }`);
    const message = signInMessage(nonce, wallet.address);
    const { login } = await this.ok<{ login: { token: string } }>(
      `mutation($m: String!, $s: String!) { login(message: $m, signature: $s) { token } }`,
      {
        m: message,
        s: await wallet.signMessage(message),
      },
    );
    this.token = login.token;
  }
}

export interface Claimer {
  wallet: Wallet;
  client: GraphqlHttp;
}

/** `n` new wallets (no ETH), each signed in to the API at `url`. */
export async function signedInClaimers(url: string, n: number): Promise<Claimer[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const claimer = { wallet: Wallet.createRandom() as unknown as Wallet, client: new GraphqlHttp(url) };
      await claimer.client.signIn(claimer.wallet);
      return claimer;
    }),
  );
}

export interface ClaimAttempt {
  who: string;
  /** null for the winner, else the error code (ALREADY_CLAIMED for a lost race) */
  code: string | null;
  /** which request answered with the code: the prepare, or the relay after it */
  failedAt: 'prepare' | 'relay' | null;
  /** milliseconds: prepareGaslessClaim, signing, relayGasless (0 when the prepare failed), and all three */
  prepareMs: number;
  signMs: number;
  relayMs: number;
  totalMs: number;
}

const PREPARE = `mutation($id: ID!) { p: prepareGaslessClaim(studyId: $id) { request { from to value gas nonce deadline data } domain { name version chainId verifyingContract } } }`;
const RELAY = `mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash } }`;

/** One claim: prepare, sign with the wallet, relay. */
export async function claimGasless({ wallet, client }: Claimer, studyId: string): Promise<ClaimAttempt> {
  const t0 = performance.now();
  const prepared = await client.send<{ p: { request: Record<string, unknown>; domain: TypedDataDomain } }>(PREPARE, { id: studyId });
  const t1 = performance.now();
  const code = (r: GraphqlResult) => (r.errors?.length ? String(r.errors[0].extensions?.code) : r.data ? null : 'NO_DATA');
  // code() is null only when there is data; `!prepared.data` narrows the type
  if (code(prepared) !== null || !prepared.data)
    return { who: wallet.address, code: code(prepared), failedAt: 'prepare', prepareMs: t1 - t0, signMs: 0, relayMs: 0, totalMs: t1 - t0 };
  const { request, domain } = prepared.data.p;
  const signature = await wallet.signTypedData(domain, FORWARD_REQUEST_TYPES, request);
  const t2 = performance.now();
  const relayed = await client.send<{ relayGasless: { txHash: string } }>(RELAY, { r: request, s: signature });
  const t3 = performance.now();
  const relayCode = code(relayed);
  return {
    who: wallet.address,
    code: relayCode,
    failedAt: relayCode === null ? null : 'relay',
    prepareMs: t1 - t0,
    signMs: t2 - t1,
    relayMs: t3 - t2,
    totalMs: t3 - t0,
  };
}

/** Every claimer claims `studyId` at the same moment; one attempt each. */
export function claimRace(claimers: Claimer[], studyId: string): Promise<ClaimAttempt[]> {
  return Promise.all(claimers.map((c) => claimGasless(c, studyId)));
}

/**
 * Mines the transactions `send` sends (with explicit nonces and gas limits: nothing may wait for a block) in as
 * few blocks as the block gas limit allows: automine off while sending, then `evm_mine` until every one has a
 * receipt. Throws if one reverted.
 */
export async function mineTogether(provider: JsonRpcProvider, send: () => Promise<{ hash: string }[]>): Promise<TransactionReceipt[]> {
  await provider.send('evm_setAutomine', [false]);
  let hashes: string[];
  try {
    hashes = (await send()).map((tx) => tx.hash);
    for (let i = 0; i < 20; i++) {
      await provider.send('evm_mine', []);
      const pending = Number(((await provider.send('txpool_status', [])) as { pending: string }).pending);
      if (pending === 0) break;
    }
  } finally {
    await provider.send('evm_setAutomine', [true]);
  }
  const receipts = await Promise.all(hashes.map((h) => waitForReceipt(provider, h, 30_000)));
  receipts.forEach((r, i) => {
    if (!r) throw new Error(`transaction ${hashes[i]} was not mined`);
    if (r.status !== 1) throw new Error(`transaction ${hashes[i]} reverted`);
  });
  return receipts as TransactionReceipt[];
}

/** The study every race is about: CT, routine, a patient in CA, max bounty 10 tUSD. */
export const RACE_STUDY = { modality: 'CT', state: 'CA', difficultyBps: 10_000, urgency: 'ROUTINE', maxBounty: 10_000_000n } as const;

/**
 * CT-in-CA credentials for `addresses`, attested in one block by the registry's runner (a verifier behind a
 * NonceManager: the attestations are sent concurrently).
 */
export async function attestTogether(provider: JsonRpcProvider, registry: Contract, addresses: string[], expiresAt: number): Promise<void> {
  const states = toMask([stateIndex(RACE_STUDY.state)]);
  const modalities = toMask([modalityIndex(RACE_STUDY.modality)]);
  await mineTogether(provider, () =>
    Promise.all(
      addresses.map((a) => registry.attest(a, states, modalities, expiresAt, { gasLimit: 200_000 }) as Promise<{ hash: string }>),
    ),
  );
}

/**
 * Posts `n` race studies with random IDs in as few blocks as possible, from the market's runner (an RO behind a
 * NonceManager, with enough deposited), each ID issued to it with the market's study-ID issuer key. Returns the
 * study IDs and the last block.
 */
export async function postTogether(
  provider: JsonRpcProvider,
  market: Contract,
  n: number,
  studyIdIssuerKey: string,
): Promise<{ studyIds: string[]; block: number }> {
  const studyIds = Array.from({ length: n }, () => hexlify(randomBytes(32)));
  const s = RACE_STUDY;
  const ro = await (market.runner as unknown as { getAddress(): Promise<string> }).getAddress();
  const issue = studyIdIssuerFor(studyIdIssuerKey, await market.getAddress(), (await provider.getNetwork()).chainId);
  const issuedUntil = (await provider.getBlock('latest'))!.timestamp + 3600;
  const receipts = await mineTogether(provider, () =>
    Promise.all(
      studyIds.map(
        (id) =>
          market.postStudy(
            id,
            modalityIndex(s.modality),
            s.difficultyBps,
            urgencyIndex(s.urgency),
            stateIndex(s.state),
            s.maxBounty,
            ...issuanceArgs(issue(ro, id, issuedUntil)),
            {
              gasLimit: 400_000,
            },
          ) as Promise<{ hash: string }>,
      ),
    ),
  );
  return { studyIds, block: Math.max(...receipts.map((r) => r.blockNumber)) };
}

/** Resolves once the API's indexer has indexed `block` (the indexerStatus query, polled). */
export async function indexedUpTo(client: GraphqlHttp, block: number, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (
    (await client.ok<{ indexerStatus: { indexedBlock: number } }>(`{ indexerStatus { indexedBlock } }`)).indexerStatus.indexedBlock < block
  ) {
    if (Date.now() > until) throw new Error(`block ${block} not indexed within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** user + system CPU seconds of the calling thread (Linux /proc; 10 ms resolution) */
export function threadCpuSeconds(): number {
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
