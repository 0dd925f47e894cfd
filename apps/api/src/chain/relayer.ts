import type { TransactionReceipt, Wallet } from 'ethers';
import { waitForReceipt, shortReason } from '#chain';
import { chainUnavailable } from '../common/chain-errors.js';
import { OpenReadError } from '../common/errors.js';
import type { ChainService } from './chain.service.js';

/**
 * A funded service key that sends transactions on users' behalf (gasless votes, queue/execute, Safe payouts).
 * Each call is simulated first (a doomed call is refused with its reason), then sent and awaited; calls go out
 * one at a time, so the key's nonce sequence never collides.
 */
export class Relayer {
  private sending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly chain: ChainService,
    readonly wallet: Wallet,
  ) {}

  /**
   * Sends the call `build` returns (built in the queue, so it may check fresh state and refuse), after simulating
   * it; the receipt is handed to `after` (also in the queue) before the next call goes out.
   */
  send<T = void>(
    fn: string,
    build: () => Promise<{ to: string; data: string }>,
    after?: (receipt: TransactionReceipt) => Promise<T>,
  ): Promise<{ txHash: string; blockNumber: number; function: string; result: T }> {
    const run = async () => {
      const { to, data } = await build();
      const gas = await this.chain.simulate({ from: this.wallet.address, to, data });
      let hash: string;
      try {
        hash = (await this.wallet.sendTransaction({ to, data, gasLimit: (gas * 12n) / 10n })).hash;
      } catch (e) {
        throw chainUnavailable(`the relayer could not send the transaction: ${shortReason(e)}`);
      }
      const receipt = await waitForReceipt(this.chain.provider, hash, 60_000).catch(() => null);
      if (!receipt) throw new OpenReadError('CHAIN_UNAVAILABLE', `transaction ${hash} was sent but not mined within 60 s`, { txHash: hash });
      if (receipt.status !== 1) throw new OpenReadError('CONFLICT', 'the transaction reverted', { txHash: hash });
      const result = (await after?.(receipt)) as T;
      return { txHash: hash, blockNumber: receipt.blockNumber, function: fn, result };
    };
    const result = this.sending.then(run, run);
    this.sending = result.catch(() => undefined);
    return result;
  }
}
