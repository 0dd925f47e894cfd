import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Interface, JsonRpcProvider, Transaction, TransactionDescription } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import { createProvider, loadArtifact, decodeContractError, waitForReceipt } from '#chain';
import type { Role } from '../auth/roles.js';
import { OpenReadError } from '../common/errors.js';

export interface UnsignedTx {
  from: string;
  to: string;
  data: string;
  chainId: number;
  gasLimit: bigint;
}

export type Target = 'market' | 'registry';
/**
 * Functions the API relays, per contract, each with the role its sender must hold; and how reverts read to a
 * client. postStudy additionally passes a check by the caller (the study ID must be one the API generated for
 * the sender's RO: random, never derived from an MRN or accession number).
 */
const RELAYABLE: Record<Target, Record<string, Role>> = {
  market: { claim: 'RADIOLOGIST', submitReport: 'RADIOLOGIST', postStudy: 'RO_DEPOSITOR' },
  registry: { attest: 'VERIFIER', revoke: 'VERIFIER' },
};
const REVERT_CODES: Record<string, ConstructorParameters<typeof OpenReadError>[0]> = {
  StudyNotFound: 'NOT_FOUND',
  StudyNotOpen: 'ALREADY_CLAIMED',
  NotEligible: 'NOT_ELIGIBLE',
  NotClaimant: 'FORBIDDEN',
  NotStudyOwner: 'FORBIDDEN',
  LeaseHasExpired: 'LEASE_EXPIRED',
  InvalidReportHash: 'BAD_INPUT',
  InvalidStatus: 'CONFLICT',
  InsufficientBalance: 'CONFLICT',
  StudyAlreadyExists: 'CONFLICT',
  InvalidStudy: 'BAD_INPUT',
  StudyIdNotIssued: 'FORBIDDEN',
  StudyIdIssuanceExpired: 'BAD_INPUT',
  InvalidCredential: 'BAD_INPUT',
  CredentialNotFound: 'NOT_FOUND',
  AccessControlUnauthorizedAccount: 'FORBIDDEN',
  // governance (issue 4)
  GovernorInsufficientProposerVotes: 'FORBIDDEN',
  GovernorInvalidSignature: 'BAD_INPUT',
  GovernorAlreadyCastVote: 'CONFLICT',
  GovernorUnexpectedProposalState: 'CONFLICT',
  GovernorNonexistentProposal: 'NOT_FOUND',
  TimelockUnexpectedOperationState: 'CONFLICT',
  ParameterOutOfBounds: 'BAD_INPUT',
  UnknownKey: 'BAD_INPUT',
};

@Injectable()
export class ChainService implements OnApplicationShutdown {
  readonly provider: JsonRpcProvider;
  readonly market = new Interface(loadArtifact('StudyMarket').abi);
  readonly registry = new Interface(loadArtifact('CredentialRegistry').abi);
  private clock: { at: number; value: number } | null = null;
  /** contracts the service relays signed transactions to, and which of their functions */
  private readonly relayable = new Map<string, { name: string; iface: Interface; fns: Record<string, Role> }>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.provider = createProvider(config.rpcUrl);
    this.relayable.set(config.contracts.market, { name: 'market', iface: this.market, fns: RELAYABLE.market });
    this.relayable.set(config.contracts.registry, { name: 'registry', iface: this.registry, fns: RELAYABLE.registry });
  }

  /** Lets {@link relay} send signed calls of `fns` on `to`, each by holders of its role (e.g. the governor's propose). */
  allowRelay(name: string, to: string, iface: Interface, fns: Record<string, Role>): void {
    this.relayable.set(to.toLowerCase(), { name, iface, fns });
  }

  onApplicationShutdown(): void {
    this.provider.destroy();
  }

  /** Chain time: the latest block's timestamp (what the next transaction's bounty is computed from), cached 1 s. */
  /** The latest block's timestamp (chain time), reused for up to `maxAgeMs`. */
  async now(maxAgeMs = 1000): Promise<number> {
    if (this.clock && Date.now() - this.clock.at < maxAgeMs) return this.clock.value;
    try {
      const block = await this.provider.getBlock('latest');
      this.clock = { at: Date.now(), value: block!.timestamp };
      return block!.timestamp;
    } catch {
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'the chain node is not reachable; try again shortly');
    }
  }

  /**
   * Builds a contract call for `from` to sign, after simulating it so a doomed transaction is refused up front.
   * `target` is the market or the registry, or any other contract (e.g. the governor) by address and interface.
   */
  async prepare(from: string, fn: string, args: unknown[], target: Target | { to: string; iface: Interface } = 'market'): Promise<UnsignedTx> {
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
    if (!tx.from || tx.from.toLowerCase() !== caller) throw new OpenReadError('FORBIDDEN', 'the transaction must be signed by the signed-in account');
    const target = this.relayable.get(tx.to?.toLowerCase() ?? '');
    if (!tx.to || !target) throw new OpenReadError('BAD_INPUT', 'the transaction must call the study market, the credential registry or the governor');
    if (Number(tx.chainId) !== this.config.chainId) throw new OpenReadError('BAD_INPUT', `the transaction must be for chain ${this.config.chainId}`);
    const fn = target.iface.parseTransaction({ data: tx.data });
    const needs = fn ? target.fns[fn.name] : undefined;
    if (!fn || !needs)
      throw new OpenReadError('BAD_INPUT', `only ${Object.keys(target.fns).join(', ')} can be relayed to the ${target.name}`);
    if (!roles.has(needs)) throw new OpenReadError('FORBIDDEN', `${fn.name} needs the ${needs} role`);
    await check?.(fn);
    await this.simulate({ from: caller, to: tx.to!, data: tx.data });

    let hash: string;
    try {
      hash = (await this.provider.broadcastTransaction(signed)).hash;
    } catch (e) {
      throw new OpenReadError('CONFLICT', `the node refused the transaction: ${shortReason(e)}`);
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

  /** Whether the market knows a study ID (any status), read from the chain, not the index. */
  async studyExists(studyId: string): Promise<boolean> {
    try {
      const [view] = this.market.decodeFunctionResult(
        'getStudy',
        await this.provider.call({ to: this.config.contracts.market, data: this.market.encodeFunctionData('getStudy', [studyId]) }),
      );
      return Number(view.status) !== 0;
    } catch {
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'the chain node is not reachable; try again shortly');
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
      throw this.revertToError(e);
    }
  }

  private revertToError(e: unknown): OpenReadError {
    const data = revertData(e);
    const decoded = data ? decodeContractError(data) : null;
    if (decoded) {
      const code = REVERT_CODES[decoded.name] ?? 'CONFLICT';
      return new OpenReadError(code, messageFor(decoded.name), { reason: decoded.name });
    }
    const err = e as { code?: string };
    if (err?.code === 'NETWORK_ERROR' || err?.code === 'TIMEOUT' || err?.code === 'SERVER_ERROR')
      return new OpenReadError('CHAIN_UNAVAILABLE', 'the chain node is not reachable; try again shortly');
    return new OpenReadError('CONFLICT', `the transaction would fail: ${shortReason(e)}`);
  }
}

function messageFor(reason: string): string {
  switch (reason) {
    case 'StudyNotOpen':
      return 'the study has already been claimed';
    case 'NotEligible':
      return 'you are not eligible to read this study (credential, licence state or modality)';
    case 'StudyNotFound':
      return 'no such study';
    case 'NotClaimant':
      return 'only the radiologist who claimed the study can do this';
    case 'LeaseHasExpired':
      return 'the claim lease has expired';
    case 'InsufficientBalance':
      return 'the market balance does not cover maxBounty: deposit first';
    case 'CredentialNotFound':
      return 'the radiologist has no live credential to revoke';
    case 'AccessControlUnauthorizedAccount':
      return 'the signer does not hold the role this needs on chain';
    case 'ParameterOutOfBounds':
      return 'the value is outside the hard bounds of the parameter (even governance cannot set it)';
    case 'GovernorInsufficientProposerVotes':
      return 'only DAO members with enough votes can propose';
    case 'GovernorInvalidSignature':
      return 'the ballot signature is not valid for this voter (wrong signer, proposal, support or nonce)';
    case 'GovernorAlreadyCastVote':
      return 'this member has already voted on the proposal';
    case 'GovernorUnexpectedProposalState':
      return 'the proposal is not in a state that allows this (see its state)';
    case 'TimelockUnexpectedOperationState':
      return 'the timelock operation is not ready (wait until the proposal eta)';
    default:
      return `the market refused the transaction (${reason})`;
  }
}

function revertData(e: unknown): string | undefined {
  const err = e as { data?: string; info?: { error?: { data?: string } }; error?: { data?: string } };
  const d = err?.data ?? err?.info?.error?.data ?? err?.error?.data;
  return typeof d === 'string' && d.startsWith('0x') && d.length >= 10 ? d : undefined;
}

function shortReason(e: unknown): string {
  const err = e as { shortMessage?: string; message?: string };
  return (err?.shortMessage ?? err?.message ?? 'unknown').split('\n')[0].slice(0, 200);
}
