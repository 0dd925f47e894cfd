import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
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

  /** The address of a service key (the sender of its rows), or null when it is not configured. */
  keyAddress(privateKey: string | undefined): string | null {
    return privateKey ? new Wallet(privateKey).address.toLowerCase() : null;
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

  /** What a gasless request forwarding `gas` may cost at most at today's fees: reserved against the signer's limit. */
  async worstCaseCost(gas: bigint): Promise<bigint> {
    const fees = await this.chain.provider.getFeeData();
    return (gas + FORWARDER_OVERHEAD_GAS) * (fees.maxFeePerGas ?? fees.gasPrice ?? 0n);
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
  throw new OpenReadError('CHAIN_UNAVAILABLE', 'the transaction is queued but not mined yet; it will still be sent', { requestId: row.id });
}
