import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Interface, JsonRpcProvider, Transaction } from 'ethers';
import { APP_CONFIG, type AppConfig } from '../../../../libs/config/src/index.js';
import { createProvider } from '../../../../libs/chain/src/anvil.js';
import { loadArtifact } from '../../../../libs/chain/src/artifacts.js';
import { decodeContractError } from '../../../../libs/chain/src/errors.js';
import { OpenReadError } from '../common/errors.js';

export interface UnsignedTx {
  from: string;
  to: string;
  data: string;
  chainId: number;
  gasLimit: bigint;
}

/** Market functions a radiologist may have relayed, and how their reverts read to a client. */
const RELAYABLE = new Set(['claim', 'submitReport']);
const REVERT_CODES: Record<string, ConstructorParameters<typeof OpenReadError>[0]> = {
  StudyNotFound: 'NOT_FOUND',
  StudyNotOpen: 'ALREADY_CLAIMED',
  NotEligible: 'NOT_ELIGIBLE',
  NotClaimant: 'FORBIDDEN',
  NotStudyOwner: 'FORBIDDEN',
  LeaseHasExpired: 'LEASE_EXPIRED',
  InvalidReportHash: 'BAD_INPUT',
  InvalidStatus: 'CONFLICT',
};

@Injectable()
export class ChainService implements OnApplicationShutdown {
  readonly provider: JsonRpcProvider;
  readonly market = new Interface(loadArtifact('StudyMarket').abi);
  private clock: { at: number; value: number } | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.provider = createProvider(config.rpcUrl);
  }

  onApplicationShutdown(): void {
    this.provider.destroy();
  }

  /** Chain time: the latest block's timestamp (what the next transaction's bounty is computed from), cached 1 s. */
  async now(): Promise<number> {
    if (this.clock && Date.now() - this.clock.at < 1000) return this.clock.value;
    try {
      const block = await this.provider.getBlock('latest');
      this.clock = { at: Date.now(), value: block!.timestamp };
      return block!.timestamp;
    } catch {
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'the chain node is not reachable; try again shortly');
    }
  }

  /** Builds a market call for `from` to sign, after simulating it so a doomed transaction is refused up front. */
  async prepare(from: string, fn: string, args: unknown[]): Promise<UnsignedTx> {
    const tx = { from, to: this.config.contracts.market, data: this.market.encodeFunctionData(fn, args) };
    const gas = await this.simulate(tx);
    return { ...tx, chainId: this.config.chainId, gasLimit: (gas * 12n) / 10n };
  }

  /**
   * Relays a transaction the caller signed: it must come from the caller, go to the market, on this chain,
   * and call a relayable function. Returns once it is mined.
   */
  async relay(signed: string, caller: string): Promise<{ txHash: string; blockNumber: number; function: string }> {
    let tx: Transaction;
    try {
      tx = Transaction.from(signed);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'signedTransaction is not a signed, RLP-encoded transaction');
    }
    if (!tx.from || tx.from.toLowerCase() !== caller) throw new OpenReadError('FORBIDDEN', 'the transaction must be signed by the signed-in account');
    if (tx.to?.toLowerCase() !== this.config.contracts.market) throw new OpenReadError('BAD_INPUT', 'the transaction must call the study market');
    if (Number(tx.chainId) !== this.config.chainId) throw new OpenReadError('BAD_INPUT', `the transaction must be for chain ${this.config.chainId}`);
    const fn = this.market.parseTransaction({ data: tx.data });
    if (!fn || !RELAYABLE.has(fn.name)) throw new OpenReadError('BAD_INPUT', `only ${[...RELAYABLE].join(', ')} can be relayed`);
    await this.simulate({ from: caller, to: tx.to, data: tx.data });

    let hash: string;
    try {
      hash = (await this.provider.broadcastTransaction(signed)).hash;
    } catch (e) {
      throw new OpenReadError('CONFLICT', `the node refused the transaction: ${shortReason(e)}`);
    }
    const receipt = await this.provider.waitForTransaction(hash, 1, 60_000).catch(() => null);
    if (!receipt) throw new OpenReadError('CHAIN_UNAVAILABLE', `transaction ${hash} was sent but not mined within 60 s`, { txHash: hash });
    if (receipt.status !== 1) {
      // lost a race that the simulation could not see (e.g. another claim in the same block)
      await this.simulate({ from: caller, to: tx.to, data: tx.data, blockTag: receipt.blockNumber });
      throw new OpenReadError('CONFLICT', 'the transaction reverted', { txHash: hash });
    }
    return { txHash: hash, blockNumber: receipt.blockNumber, function: fn.name };
  }

  private async simulate(tx: { from: string; to: string; data: string; blockTag?: number }): Promise<bigint> {
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
