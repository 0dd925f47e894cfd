import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { Transaction, Wallet, getBytes } from 'ethers';
import { chargesL1DataFee, l1DataFee, relayFees } from '#chain';
import { type NewOutboxCall, OUTBOX_SETTLED, OutboxListener, RelayOutboxRepository, type RelayRow } from '#db';
import { ChainService } from '../chain/index.js';
import { ERROR_CODES, type ErrorCode, OpenReadError } from '../common/errors.js';

/** Gas the forwarder itself spends around the inner call (signature check, nonce, event), generously. */
const FORWARDER_OVERHEAD_GAS = 100_000n;
/** How long a mutation waits for its transaction (then it answers CHAIN_UNAVAILABLE; the row is still sent). */
export const SEND_WAIT_MS = 60_000;
/** How often a waiting request re-reads its row (the sender runs in the worker app), at least; a notification from
 * the sender (Postgres NOTIFY) wakes it sooner. */
const SETTLED_POLL_MS = 100;

/**
 * The API's side of the transaction outbox: it only enqueues (rows of relay_requests) and waits, bounded, for the
 * outcome; the one sender in the worker app (apps/settler TransactionSender) signs, sends, replaces and settles them.
 * Checks that need fresh state run before enqueueing (same typed refusals as ever); the sender's simulation at
 * send time catches races and records them on the row, which outcome() turns into the same kind of error.
 */
@Injectable()
export class TransactionOutbox implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('TransactionOutbox');
  /** requests waiting in settled(), by row id */
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly settledRows: OutboxListener;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly chain: ChainService,
    private readonly outbox: RelayOutboxRepository,
  ) {
    this.settledRows = new OutboxListener(
      config.databaseUrl,
      OUTBOX_SETTLED,
      (id) => this.wake(id),
      (m) => this.logger.warn(m),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.settledRows.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.settledRows.stop();
    for (const id of [...this.waiters.keys()]) this.wake(id);
  }

  private wake(id: string): void {
    for (const finish of [...(this.waiters.get(id) ?? [])]) finish();
  }

  /** Resolves when the sender settles `id` (its notification) or after `ms`. */
  private nap(id: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        const set = this.waiters.get(id);
        set?.delete(finish);
        if (set?.size === 0) this.waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      const set = this.waiters.get(id) ?? new Set();
      set.add(finish);
      this.waiters.set(id, set);
    });
  }

  /** service keys' addresses: deriving one is an elliptic-curve multiplication, not for every request */
  private readonly addresses = new Map<string, string>();

  /** The address of a service key (the sender of its rows), or null when it is not configured. */
  keyAddress(privateKey: string | undefined): string | null {
    if (!privateKey) return null;
    let address = this.addresses.get(privateKey);
    if (!address) this.addresses.set(privateKey, (address = new Wallet(privateKey).address.toLowerCase()));
    return address;
  }

  /** Queues a service key's call (`db`: inside the caller's transaction, with its other writes). */
  enqueue(call: Omit<NewOutboxCall, 'chainId'>, db?: Pick<DataSource, 'query'>): Promise<{ row: RelayRow; created: boolean }> {
    return this.outbox.enqueueCall({ ...call, chainId: this.config.chainId }, db);
  }

  /** The row once final, or as it is after `timeoutMs`. */
  settled(id: string, timeoutMs = SEND_WAIT_MS): Promise<RelayRow> {
    return this.outbox.settled(id, timeoutMs, Math.max(SETTLED_POLL_MS, this.config.relay.pollMs), (ms) => this.nap(id, ms));
  }

  /** Enqueues and waits: the mined transaction, or the refusal as an OpenReadError. */
  async send(call: Omit<NewOutboxCall, 'chainId'>): Promise<{ txHash: string; blockNumber: number; function: string }> {
    const { row } = await this.enqueue(call);
    return outcome(await this.settled(row.id));
  }

  /**
   * What the gasless key's forwarder call `tx`, forwarding `innerGas` to the market, may cost at most at today's
   * fees: 21,000 + its calldata (at EIP-7623's floor price, 40 gas per non-zero byte and 10 per zero byte, above the
   * standard 16 and 4) + the forwarder's own work + the forwarded gas, with the sender's 20 % margin, at the fee cap
   * the sender uses, plus the L1 data fee on an OP-stack chain. Computed rather than estimated: a request queued
   * behind the signer's earlier ones would not simulate yet. Reserved against the signer's limit when queued.
   */
  async worstCaseCost(tx: { to: string; data: string }, innerGas: bigint): Promise<bigint> {
    const provider = this.chain.provider;
    const fees = await relayFees(provider, {
      percentile: this.config.relay.feePercentile,
      maxPriorityFeeWei: this.config.relay.maxPriorityFeeWei,
    });
    let calldataGas = 0n;
    for (const byte of getBytes(tx.data)) calldataGas += byte === 0 ? 10n : 40n;
    const gasLimit = ((21_000n + calldataGas + FORWARDER_OVERHEAD_GAS + innerGas) * 12n) / 10n;
    const l2Cost = gasLimit * fees.maxFeePerGas;
    // the L1 fee prices the signed bytes, the key's nonce among them: read only where there is an L1 fee
    if (!(await chargesL1DataFee(provider))) return l2Cost;
    const nonce = await provider.getTransactionCount(this.keyAddress(this.config.relay.privateKey)!, 'pending');
    const unsigned = Transaction.from({
      type: 2,
      chainId: this.config.chainId,
      nonce,
      value: 0n,
      gasLimit,
      ...tx,
      ...fees,
    }).unsignedSerialized;
    return l2Cost + (await l1DataFee(provider, unsigned));
  }
}

/** A settled row as a mutation answers it: the mined transaction, or the refusal recorded on the row. */
export function outcome(row: RelayRow): { txHash: string; blockNumber: number; function: string } {
  if (row.status === 'MINED') return { txHash: row.txHash!, blockNumber: row.blockNumber!, function: row.function };
  if (row.status === 'FAILED') {
    const code = (ERROR_CODES as readonly string[]).includes(row.errorCode ?? '') ? (row.errorCode as ErrorCode) : 'CONFLICT';
    throw new OpenReadError(code, row.errorMessage ?? 'the request was refused', row.errorReason ? { reason: row.errorReason } : {});
  }
  if (row.status === 'REVERTED')
    throw new OpenReadError('CONFLICT', row.purpose === 'gasless' ? 'the relayed transaction reverted' : 'the transaction reverted', {
      txHash: row.txHash,
    });
  throw new OpenReadError('CHAIN_UNAVAILABLE', 'the transaction is queued but not mined yet; it will still be sent', {
    requestId: row.id,
    ...(row.requestHash && { requestHash: row.requestHash, status: row.status }),
  });
}
