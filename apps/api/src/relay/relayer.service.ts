import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Interface, Transaction, Wallet, solidityPacked } from 'ethers';
import { DataSource, QueryRunner } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { loadArtifact } from '#chain';
import { RelayAttempt, RelayOutboxRepository, RelayRow } from '#db';
import { ChainService } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';

/** Gas the forwarder itself spends around the inner call (signature check, nonce, event), generously. */
const FORWARDER_OVERHEAD_GAS = 100_000n;
const bump = (v: bigint) => (v * 1125n) / 1000n + 1n; // replacement: +12.5 % (nodes want at least +10 %)
/** replacements stop raising the fee at this multiple of the first attempt's (then the same bytes are re-broadcast) */
const MAX_FEE_GROWTH = 10n;
const max = (a: bigint, b: bigint) => (a > b ? a : b);
/** how often settled() re-reads a row that no relayer in this process has settled (another instance may) */
const SETTLED_POLL_MS = 250;

/**
 * Sends what the relay outbox holds, from the funded relayer account, and watches it until mined:
 * - only one relayer process per account sends (a session advisory lock in Postgres);
 * - a queued request is re-simulated first: if it would fail now (e.g. ALREADY_CLAIMED) it is marked FAILED and
 *   nothing is sent (the relayer pays nothing for lost races it can see);
 * - the relayer nonce and the signed transaction are stored before broadcasting, so after a crash the same
 *   transaction is re-broadcast, never a second one;
 * - a transaction not mined after RELAY_REPLACE_AFTER_MS is replaced: same nonce, fees +12.5 %; whichever
 *   attempt is mined settles the row;
 * - one request per signer in flight at a time (the forwarder's nonces are sequential per signer).
 */
@Injectable()
export class Relayer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Relayer');
  private readonly forwarder = new Interface(loadArtifact('OpenReadForwarder').abi);
  private wallet?: Wallet;
  private lock?: QueryRunner;
  private locked = false;
  private stopped = false;
  private wake?: () => void;
  private kicked = false;
  /** settled() callers waiting for a row, by id */
  private readonly waiters = new Map<string, Set<() => void>>();
  private loop?: Promise<void>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly chain: ChainService,
    private readonly outbox: RelayOutboxRepository,
    private readonly db: DataSource,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.relay.privateKey || !this.config.contracts.forwarder) return;
    this.wallet = new Wallet(this.config.relay.privateKey, this.chain.provider);
    this.loop = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    // the lock belongs to the pooled connection, not to this object: give it up before the connection goes back
    if (this.locked) await this.lock?.query(`SELECT pg_advisory_unlock(hashtext('openread-relayer:' || $1))`, [this.wallet!.address]).catch(() => undefined);
    await this.lock?.release().catch(() => undefined);
  }

  /** Look at the outbox now rather than at the next poll (again right after the current look, if one is running). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /**
   * The row once it is MINED, REVERTED or FAILED; as it is after `timeoutMs` otherwise. Woken as soon as this
   * process's relayer settles it; polled every SETTLED_POLL_MS for rows another API instance's relayer settles.
   */
  async settled(id: string, timeoutMs = 60_000): Promise<RelayRow> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const wake = this.wakeOnSettle(id, Math.min(SETTLED_POLL_MS, Math.max(0, until - Date.now())));
      const row = await this.outbox.findById(id);
      if (!row) {
        wake.cancel();
        throw new Error(`relay request ${id} vanished`);
      }
      if (!['QUEUED', 'SENT'].includes(row.status) || Date.now() > until) {
        wake.cancel();
        return row;
      }
      await wake.done;
    }
  }

  /** Resolves when this relayer settles `id` or after `ms` (registered before the caller reads the row: no lost wake-up). */
  private wakeOnSettle(id: string, ms: number): { done: Promise<void>; cancel(): void } {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), ms);
      finish = () => {
        clearTimeout(timer);
        const set = this.waiters.get(id);
        set?.delete(finish);
        if (set?.size === 0) this.waiters.delete(id);
        resolve();
      };
    });
    const set = this.waiters.get(id) ?? new Set();
    set.add(finish);
    this.waiters.set(id, set);
    return { done, cancel: finish };
  }

  /** Wakes the requests waiting in settled() for a row this relayer just settled. */
  private notifySettled(id: string): void {
    for (const finish of [...(this.waiters.get(id) ?? [])]) finish();
  }

  /** What a request forwarding `gas` may cost at most at today's fees: reserved against the signer's limit. */
  async worstCaseCost(gas: bigint): Promise<bigint> {
    const fees = await this.chain.provider.getFeeData();
    return (gas + FORWARDER_OVERHEAD_GAS) * (fees.maxFeePerGas ?? fees.gasPrice ?? 0n);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.kicked = false;
      let sent = false;
      try {
        sent = await this.tick();
      } catch (e) {
        this.logger.warn(`relay tick failed: ${(e as Error).message}`);
      }
      if (this.stopped) break;
      // at once again when something was queued meanwhile, or a transaction was just sent (its receipt may be
      // there already: chains that mine on arrival, like anvil, or with short blocks)
      if (sent || this.kicked) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.config.relay.pollMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private async holdLock(): Promise<boolean> {
    if (this.locked) return true;
    this.lock ??= this.db.createQueryRunner();
    const [{ ok }] = await this.lock.query(`SELECT pg_try_advisory_lock(hashtext('openread-relayer:' || $1)) AS ok`, [this.wallet!.address]);
    this.locked = ok;
    return ok;
  }

  /** true when a new transaction was sent */
  private async tick(): Promise<boolean> {
    if (!(await this.holdLock())) return false;
    const inFlight = new Set<string>();
    let sent = false;
    for (const row of await this.outbox.pending(this.config.chainId)) {
      if (this.stopped) break;
      if (row.status === 'SENT') {
        if (!(await this.watch(row))) inFlight.add(row.signer);
      } else if (!inFlight.has(row.signer)) {
        if (await this.send(row)) sent = true;
        inFlight.add(row.signer);
      }
    }
    return sent;
  }

  /** true when it was sent, false when it was refused (FAILED) */
  private async send(row: RelayRow): Promise<boolean> {
    const forwarder = this.config.contracts.forwarder!;
    if (row.deadline <= (await this.chain.now())) {
      await this.fail(row.id, 'BAD_INPUT', 'the request expired before it could be sent');
      return false;
    }
    const execute = this.forwarder.encodeFunctionData('execute', [
      { from: row.signer, to: row.target, value: 0n, gas: row.gas, deadline: row.deadline, data: row.data, signature: row.signature },
    ]);
    let gasLimit: bigint;
    try {
      // the inner call first: the forwarder would hide its reason behind FailedCall
      await this.chain.simulate({ from: forwarder, to: row.target, data: solidityPacked(['bytes', 'address'], [row.data, row.signer]) });
      gasLimit = ((await this.chain.simulate({ from: this.wallet!.address, to: forwarder, data: execute })) * 12n) / 10n;
    } catch (e) {
      if (e instanceof OpenReadError && e.code === 'CHAIN_UNAVAILABLE') throw e; // retry at the next tick
      const err = e instanceof OpenReadError ? e : new OpenReadError('CONFLICT', 'the request would fail');
      await this.fail(row.id, err.code, err.message);
      return false;
    }
    const fees = await this.chain.provider.getFeeData();
    const chainNonce = await this.chain.provider.getTransactionCount(this.wallet!.address, 'pending');
    const sent = await this.outbox.markSent(row.id, this.config.chainId, this.wallet!.address.toLowerCase(), chainNonce, (nonce) =>
      this.sign({ nonce, to: forwarder, data: execute, gasLimit }, fees.maxFeePerGas ?? 1n, fees.maxPriorityFeePerGas ?? 1n),
    );
    await this.broadcast(sent!.rawTx!);
    return true;
  }

  private async fail(id: string, code: string, message: string): Promise<void> {
    await this.outbox.failed(id, code, message);
    this.notifySettled(id);
  }

  /** true when the row is settled */
  private async watch(row: RelayRow): Promise<boolean> {
    // the relayer's mined nonce count, read before the receipts: if it has passed this row's nonce and none of the
    // row's attempts has a receipt, the nonce went to another transaction (the key used elsewhere)
    const minedNonces = await this.chain.provider.getTransactionCount(this.wallet!.address, 'latest');
    for (const attempt of [...row.attempts].reverse()) {
      const receipt = await this.chain.provider.getTransactionReceipt(attempt.hash);
      if (!receipt) continue;
      await this.outbox.finished(row.id, {
        status: receipt.status === 1 ? 'MINED' : 'REVERTED',
        txHash: receipt.hash,
        blockNumber: receipt.blockNumber,
        costWei: receipt.gasUsed * receipt.gasPrice,
      });
      this.notifySettled(row.id);
      return true;
    }
    if (minedNonces > row.relayerNonce!) {
      this.logger.warn(`relayer nonce ${row.relayerNonce} was used by a transaction that is not relay request ${row.id}'s: sending it again with a new nonce`);
      await this.outbox.requeue(row.id);
      return false;
    }
    const last = row.attempts.at(-1)!;
    const first = row.attempts[0];
    if (Date.now() - last.sentAt >= this.config.relay.replaceAfterMs && BigInt(last.maxFeePerGas) < BigInt(first.maxFeePerGas) * MAX_FEE_GROWTH) {
      // stuck: the same transaction again, same nonce, higher fees
      const tx = Transaction.from(row.rawTx!);
      const fees = await this.chain.provider.getFeeData();
      const replacement = await this.sign(
        { nonce: row.relayerNonce!, to: tx.to!, data: tx.data, gasLimit: tx.gasLimit },
        max(bump(BigInt(last.maxFeePerGas)), fees.maxFeePerGas ?? 0n),
        max(bump(BigInt(last.maxPriorityFeePerGas)), fees.maxPriorityFeePerGas ?? 0n),
      );
      await this.outbox.replaced(row.id, replacement.raw, replacement.attempt);
      this.logger.log(`replaced relay request ${row.id} (relayer nonce ${row.relayerNonce}) after ${row.attempts.length} attempt(s)`);
      await this.broadcast(replacement.raw);
    } else if (!(await this.chain.provider.getTransaction(last.hash))) {
      // stored but never broadcast (crash in between) or dropped by the node: send the same bytes again
      await this.broadcast(row.rawTx!);
    }
    return false;
  }

  private async sign(
    tx: { nonce: number; to: string; data: string; gasLimit: bigint },
    maxFeePerGas: bigint,
    maxPriorityFeePerGas: bigint,
  ): Promise<{ raw: string; attempt: RelayAttempt }> {
    const raw = await this.wallet!.signTransaction({
      type: 2, chainId: this.config.chainId, value: 0n, ...tx, maxFeePerGas, maxPriorityFeePerGas: maxPriorityFeePerGas > maxFeePerGas ? maxFeePerGas : maxPriorityFeePerGas,
    });
    const hash = Transaction.from(raw).hash!;
    return { raw, attempt: { hash, maxFeePerGas: maxFeePerGas.toString(), maxPriorityFeePerGas: maxPriorityFeePerGas.toString(), sentAt: Date.now() } };
  }

  private async broadcast(raw: string): Promise<void> {
    try {
      await this.chain.provider.broadcastTransaction(raw);
    } catch (e) {
      // already known / nonce too low (an earlier attempt got mined): the watch settles it from the receipts
      this.logger.warn(`broadcast refused: ${String((e as Error).message).split('\n')[0].slice(0, 160)}`);
    }
  }
}
