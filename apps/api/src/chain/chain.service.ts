import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Interface, JsonRpcProvider, Transaction, TransactionDescription } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import { createProvider, loadArtifact, waitForReceipt } from '#chain';
import type { Role } from '../common/access.js';
import { chainError, chainUnavailable } from '../common/chain-errors.js';
import { OpenReadError } from '../common/errors.js';

export interface UnsignedTx {
  from: string;
  to: string;
  data: string;
  chainId: number;
  gasLimit: bigint;
}

export type Target = 'market' | 'registry' | 'token';
/** Who may have a relayed call sent: one role, or any of several. */
export type RelayRoles = Role | readonly Role[];
/**
 * Functions the API relays, per contract, each with the role(s) its sender must hold (how reverts read to a client:
 * libs/chain's contract-error table). postStudy additionally passes a check by the caller (the study ID must be
 * one the API generated for the sender's RO: random, never derived from an MRN or accession number); so does the
 * token's approve (the spender must be the market: the first half of an RO deposit).
 */
const RELAYABLE: Record<Target, Record<string, RelayRoles>> = {
  market: {
    claim: 'RADIOLOGIST',
    submitReport: 'RADIOLOGIST',
    postStudy: 'RO_DEPOSITOR',
    deposit: 'RO_DEPOSITOR',
    depositWithPermit: 'RO_DEPOSITOR',
    cancelStudy: 'RO_DEPOSITOR',
    dispute: 'RO_DEPOSITOR',
    // radiologists withdraw their payouts, RO depositors their unescrowed deposits
    withdraw: ['RADIOLOGIST', 'RO_DEPOSITOR'],
  },
  registry: { attest: 'VERIFIER', revoke: 'VERIFIER' },
  token: { approve: 'RO_DEPOSITOR' },
};
const ERC20_ABI = [
  'function approve(address spender, uint256 amount) returns (bool)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function balanceOf(address account) view returns (uint256)',
  // ERC-2612 / ERC-5267: a permit instead of an approve (gasless deposits)
  'function nonces(address owner) view returns (uint256)',
  'function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)',
];

@Injectable()
export class ChainService implements OnApplicationShutdown {
  readonly provider: JsonRpcProvider;
  readonly market = new Interface(loadArtifact('StudyMarket').abi);
  readonly registry = new Interface(loadArtifact('CredentialRegistry').abi);
  /** the market's ERC-20 (approve before a deposit) */
  readonly token = new Interface(ERC20_ABI);
  private clock: { at: number; value: number } | null = null;
  /** contracts the service relays signed transactions to, and which of their functions */
  private readonly relayable = new Map<string, { name: string; iface: Interface; fns: Record<string, RelayRoles> }>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
    this.relayable.set(config.contracts.market, { name: 'market', iface: this.market, fns: RELAYABLE.market });
    this.relayable.set(config.contracts.registry, { name: 'registry', iface: this.registry, fns: RELAYABLE.registry });
    this.relayable.set(config.contracts.token, { name: 'token', iface: this.token, fns: RELAYABLE.token });
  }

  /** Lets {@link relay} send signed calls of `fns` on `to`, each by holders of its role (e.g. the governor's propose). */
  allowRelay(name: string, to: string, iface: Interface, fns: Record<string, RelayRoles>): void {
    this.relayable.set(to.toLowerCase(), { name, iface, fns });
  }

  onApplicationShutdown(): void {
    this.provider.destroy();
  }

  /** Chain time: the latest block's timestamp (what the next transaction's bounty is computed from), reused for up to `maxAgeMs`. */
  async now(maxAgeMs = 1000): Promise<number> {
    if (this.clock && Date.now() - this.clock.at < maxAgeMs) return this.clock.value;
    // one request to the node for every caller that finds the clock stale at the same time (100 concurrent requests
    // after a second without any sent 100 identical eth_getBlockByNumber calls)
    this.clockRead ??= this.readClock().finally(() => (this.clockRead = null));
    return this.clockRead;
  }

  private clockRead: Promise<number> | null = null;

  private async readClock(): Promise<number> {
    try {
      const block = await this.provider.getBlock('latest');
      this.clock = { at: Date.now(), value: block!.timestamp };
      return block!.timestamp;
    } catch {
      throw chainUnavailable();
    }
  }

  /**
   * Builds a contract call for `from` to sign, after simulating it so a doomed transaction is refused up front.
   * `target` is the market or the registry, or any other contract (e.g. the governor) by address and interface.
   */
  async prepare(
    from: string,
    fn: string,
    args: unknown[],
    target: Target | { to: string; iface: Interface } = 'market',
  ): Promise<UnsignedTx> {
    const { to, iface } = typeof target === 'string' ? { to: this.config.contracts[target], iface: this[target] } : target;
    const tx = { from, to, data: iface.encodeFunctionData(fn, args) };
    const gas = await this.simulate(tx);
    return { ...tx, chainId: this.config.chainId, gasLimit: (gas * 12n) / 10n };
  }

  /**
   * Relays a transaction the caller signed: it must come from the caller, go to the market, the registry or another
   * allowed contract (allowRelay), on
   * this chain, call a function relayable for one of the caller's roles, and pass `check`, if given.
   * Returns once it is mined.
   */
  async relay(
    signed: string,
    caller: string,
    roles: ReadonlySet<Role>,
    check?: (call: TransactionDescription) => Promise<void>,
  ): Promise<{ txHash: string; blockNumber: number; function: string }> {
    let tx: Transaction;
    try {
      tx = Transaction.from(signed);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'signedTransaction is not a signed, RLP-encoded transaction');
    }
    if (!tx.from || tx.from.toLowerCase() !== caller)
      throw new OpenReadError('FORBIDDEN', 'the transaction must be signed by the signed-in account');
    const target = this.relayable.get(tx.to?.toLowerCase() ?? '');
    if (!tx.to || !target)
      throw new OpenReadError('BAD_INPUT', 'the transaction must call the study market, the credential registry or the governor');
    if (Number(tx.chainId) !== this.config.chainId)
      throw new OpenReadError('BAD_INPUT', `the transaction must be for chain ${this.config.chainId}`);
    const fn = target.iface.parseTransaction({ data: tx.data });
    const needs = fn ? target.fns[fn.name] : undefined;
    if (!fn || !needs)
      throw new OpenReadError('BAD_INPUT', `only ${Object.keys(target.fns).join(', ')} can be relayed to the ${target.name}`);
    const anyOf: readonly Role[] = typeof needs === 'string' ? [needs] : needs;
    if (!anyOf.some((r) => roles.has(r))) throw new OpenReadError('FORBIDDEN', `${fn.name} needs the ${anyOf.join(' or ')} role`);
    await check?.(fn);
    await this.simulate({ from: caller, to: tx.to!, data: tx.data });

    let hash: string;
    try {
      hash = (await this.provider.broadcastTransaction(signed)).hash;
    } catch (e) {
      // nonce too low, insufficient funds, …: a closed reason and a sentence; the node's words go to the log
      throw chainError(e);
    }
    const receipt = await waitForReceipt(this.provider, hash, 60_000).catch(() => null);
    if (!receipt) throw new OpenReadError('CHAIN_UNAVAILABLE', `transaction ${hash} was sent but not mined within 60 s`, { txHash: hash });
    if (receipt.status !== 1) {
      // lost a race that the simulation could not see (e.g. another claim in the same block)
      await this.simulate({ from: caller, to: tx.to!, data: tx.data, blockTag: receipt.blockNumber });
      throw new OpenReadError('CONFLICT', 'the transaction reverted', { txHash: hash });
    }
    return { txHash: hash, blockNumber: receipt.blockNumber, function: fn.name };
  }

  /** An account's market balance (withdrawable; escrow excluded), read from the chain at the latest block. */
  async marketBalance(account: string): Promise<bigint> {
    return this.view(this.config.contracts.market, this.market, 'balanceOf', [account]);
  }

  /** An ERC-20 view of the market's token (balanceOf, allowance), read from the chain. */
  tokenView(fn: 'balanceOf' | 'allowance' | 'nonces', args: unknown[]): Promise<bigint> {
    return this.view(this.config.contracts.token, this.token, fn, args);
  }

  /** The token's EIP-712 domain (ERC-5267), for its ERC-2612 permits; CONFLICT if the token has none. */
  async tokenDomain(): Promise<{ name: string; version: string; chainId: number; verifyingContract: string }> {
    let r;
    try {
      r = await this.viewResult(this.config.contracts.token, this.token, 'eip712Domain', []);
    } catch (e) {
      if (e instanceof OpenReadError && e.code === 'CHAIN_UNAVAILABLE') throw e;
      throw new OpenReadError('CONFLICT', "the market's token does not support permits (ERC-2612, ERC-5267); use prepareRoDeposit");
    }
    return { name: r.name, version: r.version, chainId: Number(r.chainId), verifyingContract: String(r.verifyingContract).toLowerCase() };
  }

  /** The market's view of a study from the chain (not the index): its RO wallet, claimant and status (0 = none). */
  async studyOnChain(studyId: string): Promise<{ ro: string; radiologist: string; status: number }> {
    const [v] = await this.viewResult(this.config.contracts.market, this.market, 'getStudy', [studyId]);
    return { ro: String(v.ro).toLowerCase(), radiologist: String(v.radiologist).toLowerCase(), status: Number(v.status) };
  }

  private async view(to: string, iface: Interface, fn: string, args: unknown[]): Promise<bigint> {
    return BigInt((await this.viewResult(to, iface, fn, args))[0]);
  }

  private async viewResult(to: string, iface: Interface, fn: string, args: unknown[]) {
    try {
      const out = await this.provider.call({ to, data: iface.encodeFunctionData(fn, args) });
      return iface.decodeFunctionResult(fn, out);
    } catch (e) {
      const code = (e as { code?: string })?.code;
      if (code === 'CALL_EXCEPTION' || code === 'BAD_DATA') throw new OpenReadError('CONFLICT', `the contract refused ${fn}`);
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'the chain node is not reachable; try again shortly');
    }
  }

  /** Whether the market knows a study ID (any status), read from the chain, not the index. */
  async studyExists(studyId: string): Promise<boolean> {
    try {
      const [view] = this.market.decodeFunctionResult(
        'getStudy',
        await this.provider.call({ to: this.config.contracts.market, data: this.market.encodeFunctionData('getStudy', [studyId]) }),
      );
      return Number(view.status) !== 0;
    } catch {
      throw chainUnavailable();
    }
  }

  /** Estimates `tx` (or, with blockTag, replays it there); a revert becomes the matching OpenReadError. */
  async simulate(tx: { from: string; to: string; data: string; blockTag?: number }): Promise<bigint> {
    try {
      if (tx.blockTag !== undefined) {
        await this.provider.call(tx);
        return 0n;
      }
      return await this.provider.estimateGas(tx);
    } catch (e) {
      throw chainError(e);
    }
  }
}
