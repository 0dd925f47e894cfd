import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Interface, JsonRpcProvider, Transaction, Wallet, solidityPacked } from 'ethers';
import { DataSource, QueryRunner } from 'typeorm';
import { APP_CONFIG, RepeatLog, type AppConfig } from '#config';
import { classifyChainError, createProvider, loadArtifact } from '#chain';
import {
  type GaslessRow,
  OUTBOX_QUEUED,
  OutboxListener,
  type OutboxPurpose,
  type RelayAttempt,
  RelayOutboxRepository,
  type RelayRow,
} from '#db';

const bump = (v: bigint) => (v * 1125n) / 1000n + 1n; // replacement: +12.5 % (nodes want at least +10 %)
/** replacements stop raising the fee at this multiple of the first attempt's (then the same bytes are re-broadcast) */
const MAX_FEE_GROWTH = 10n;
const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** A refusal found when simulating a row at send time: recorded on the row, nothing is sent. */
class Refused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly reason: string | null,
  ) {
    super(message);
  }
}

/** The chain's answer to a simulation that failed: a refusal to record, or (node unreachable) an error to retry. */
function refusal(e: unknown): Refused {
  const f = classifyChainError(e);
  if (f.kind === 'UNAVAILABLE') throw e;
  if (f.kind === 'REVERTED') return new Refused(f.code, f.message, f.reason);
  return new Refused('CONFLICT', f.message, null);
}

/**
 * The one transaction sender: drains the transaction outbox (relay_requests: gasless requests and the service keys'
 * governance, treasury, settlement and anchor calls), one lane per sending key. The API and the worker's timers only
 * enqueue; this is the only code that signs with a service key.
 * - one process sends per key (a session advisory lock in Postgres, per key address);
 * - a queued row is simulated first: if it would fail now (a lost race, an expired request) it is marked FAILED with
 *   the contract's error and nothing is sent (the key pays nothing for races it can see);
 * - the key's nonce (relayer_nonces, never below the chain's count) and the signed transaction are stored before
 *   broadcasting, so after a crash the same transaction is re-broadcast, never a second one;
 * - a transaction not mined after RELAY_REPLACE_AFTER_MS is replaced: same nonce, fees +12.5 %; whichever attempt is
 *   mined settles the row, with its cost (cost_wei: the spend accounting of each key and each gasless signer);
 * - a gasless signer has one request in flight at a time (the forwarder's nonces are sequential per signer).
 */
@Injectable()
export class TransactionSender implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Sender');
  private readonly provider: JsonRpcProvider;
  private readonly lanes: SenderLane[] = [];
  /** rows queued by any process (the API) wake the lane of their key at once */
  private readonly queued: OutboxListener;

  constructor(@Inject(APP_CONFIG) config: AppConfig, outbox: RelayOutboxRepository, db: DataSource) {
    this.provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
    // one lane per distinct key: a key configured for several purposes sends them all, from one nonce sequence
    const keys = new Map<string, { key: string; purposes: Set<OutboxPurpose> }>();
    const add = (key: string | undefined, purpose: OutboxPurpose) => {
      if (!key) return;
      const address = new Wallet(key).address.toLowerCase();
      const lane = keys.get(address) ?? { key, purposes: new Set() };
      lane.purposes.add(purpose);
      keys.set(address, lane);
    };
    if (config.contracts.forwarder) add(config.relay.privateKey, 'gasless');
    add(config.governance.relayerPrivateKey, 'governance');
    add(config.treasury.relayerPrivateKey, 'treasury');
    add(config.settler.privateKey, 'settlement');
    for (const { key, purposes } of keys.values())
      this.lanes.push(new SenderLane(config, outbox, db, new Wallet(key, this.provider), purposes.has('gasless'), this.logger));
    this.queued = new OutboxListener(
      config.databaseUrl,
      OUTBOX_QUEUED,
      (sender) => this.kick(sender),
      (m) => this.logger.warn(m),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.queued.start();
    for (const lane of this.lanes) lane.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queued.stop();
    await Promise.all(this.lanes.map((l) => l.stop()));
    this.provider.destroy();
  }

  /** Look at the outbox now rather than at the next poll: the lane of `sender`, or every lane. */
  kick(sender?: string): void {
    for (const lane of this.lanes) if (!sender || lane.address === sender.toLowerCase()) lane.kick();
  }
}

/** The sender of one key. */
class SenderLane {
  private readonly forwarder = new Interface(loadArtifact('OpenReadForwarder').abi);
  readonly address: string;
  private lock?: QueryRunner;
  private locked = false;
  private stopped = false;
  private wake?: () => void;
  private kicked = false;
  private loop?: Promise<void>;
  private readonly failures: RepeatLog;

  constructor(
    private readonly config: AppConfig,
    private readonly outbox: RelayOutboxRepository,
    private readonly db: DataSource,
    private readonly wallet: Wallet,
    private readonly gasless: boolean,
    private readonly logger: Logger,
  ) {
    this.address = wallet.address.toLowerCase();
    this.failures = new RepeatLog({ error: (m) => logger.warn(m), log: (m) => logger.log(m) });
  }

  private get provider(): JsonRpcProvider {
    return this.wallet.provider as JsonRpcProvider;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    // the lock belongs to the pooled connection, not to this object: give it up before the connection goes back
    if (this.locked)
      await this.lock
        ?.query(`SELECT pg_advisory_unlock(hashtext('openread-relayer:' || $1))`, [this.wallet.address])
        .catch(() => undefined);
    await this.lock?.release().catch(() => undefined);
  }

  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.kicked = false;
      let sent = false;
      try {
        sent = await this.tick();
        this.failures.ok(`send passes of ${this.address} recovered`);
      } catch (e) {
        this.failures.error(`send pass of ${this.address} failed: ${(e as Error).message.split('\n')[0]}`);
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
    const [{ ok }] = await this.lock.query(`SELECT pg_try_advisory_lock(hashtext('openread-relayer:' || $1)) AS ok`, [this.wallet.address]);
    this.locked = ok;
    return ok;
  }

  /** true when a new transaction was sent */
  private async tick(): Promise<boolean> {
    if (!(await this.holdLock())) return false;
    const inFlight = new Set<string>();
    let sent = false;
    for (const row of await this.outbox.pending(this.config.chainId, this.address, this.gasless)) {
      if (this.stopped) break;
      const line = row.purpose === 'gasless' ? `signer:${row.signer}` : `row:${row.id}`;
      if (row.status === 'SENT') {
        if (!(await this.watch(row))) inFlight.add(line);
      } else if (!inFlight.has(line)) {
        if (await this.send(row)) sent = true;
        inFlight.add(line);
      }
    }
    return sent;
  }

  /** The transaction a row asks for, simulated now; a Refused when it would fail. */
  private async build(row: RelayRow): Promise<{ to: string; data: string; gasLimit: bigint }> {
    if (row.purpose !== 'gasless') {
      try {
        const gas = await this.provider.estimateGas({ from: this.wallet.address, to: row.target, data: row.data });
        return { to: row.target, data: row.data, gasLimit: (gas * 12n) / 10n };
      } catch (e) {
        throw refusal(e);
      }
    }
    const g = row as GaslessRow;
    const forwarder = this.config.contracts.forwarder;
    if (!forwarder || g.forwarder.toLowerCase() !== forwarder.toLowerCase())
      throw new Refused('CONFLICT', 'the request is for another forwarder', null);
    const block = await this.provider.getBlock('latest');
    if (g.deadline <= block!.timestamp) throw new Refused('BAD_INPUT', 'the request expired before it could be sent', null);
    const data = this.forwarder.encodeFunctionData('execute', [
      { from: g.signer, to: g.target, value: 0n, gas: g.gas, deadline: g.deadline, data: g.data, signature: g.signature },
    ]);
    try {
      // the inner call first: the forwarder would hide its reason behind FailedCall
      await this.provider.estimateGas({ from: forwarder, to: g.target, data: solidityPacked(['bytes', 'address'], [g.data, g.signer]) });
      const gas = await this.provider.estimateGas({ from: this.wallet.address, to: forwarder, data });
      return { to: forwarder, data, gasLimit: (gas * 12n) / 10n };
    } catch (e) {
      throw refusal(e);
    }
  }

  /** true when it was sent, false when it was refused (FAILED) */
  private async send(row: RelayRow): Promise<boolean> {
    let tx: { to: string; data: string; gasLimit: bigint };
    try {
      tx = await this.build(row);
    } catch (e) {
      if (!(e instanceof Refused)) throw e; // the node: retry at the next pass
      if (row.purpose === 'settlement') this.logger.debug?.(`${row.function} (outbox row ${row.id}) not sent: ${e.message}`);
      else this.logger.warn(`${row.purpose} ${row.function} (outbox row ${row.id}) refused at send time: ${e.message}`);
      await this.outbox.failed(row.id, e.code, e.message, e.reason);
      return false;
    }
    const fees = await this.provider.getFeeData();
    const chainNonce = await this.provider.getTransactionCount(this.wallet.address, 'pending');
    const sent = await this.outbox.markSent(row.id, this.config.chainId, this.address, chainNonce, (nonce) =>
      this.sign({ nonce, ...tx }, fees.maxFeePerGas ?? 1n, fees.maxPriorityFeePerGas ?? 1n),
    );
    await this.broadcast(sent!.rawTx!);
    return true;
  }

  /** true when the row is settled */
  private async watch(row: RelayRow): Promise<boolean> {
    // the key's mined nonce count, read before the receipts: if it has passed this row's nonce and none of the
    // row's attempts has a receipt, the nonce went to another transaction (the key used elsewhere)
    const minedNonces = await this.provider.getTransactionCount(this.wallet.address, 'latest');
    for (const attempt of [...row.attempts].reverse()) {
      const receipt = await this.provider.getTransactionReceipt(attempt.hash);
      if (!receipt) continue;
      await this.outbox.finished(row.id, {
        status: receipt.status === 1 ? 'MINED' : 'REVERTED',
        txHash: receipt.hash,
        blockNumber: receipt.blockNumber,
        costWei: receipt.gasUsed * receipt.gasPrice,
      });
      return true;
    }
    if (minedNonces > row.relayerNonce!) {
      this.logger.warn(
        `nonce ${row.relayerNonce} of ${this.address} was used by a transaction that is not outbox row ${row.id}'s: sending it again with a new nonce`,
      );
      await this.outbox.requeue(row.id);
      return false;
    }
    const last = row.attempts.at(-1)!;
    const first = row.attempts[0];
    if (
      Date.now() - last.sentAt >= this.config.relay.replaceAfterMs &&
      BigInt(last.maxFeePerGas) < BigInt(first.maxFeePerGas) * MAX_FEE_GROWTH
    ) {
      // stuck: the same transaction again, same nonce, higher fees
      const tx = Transaction.from(row.rawTx!);
      const fees = await this.provider.getFeeData();
      const replacement = await this.sign(
        { nonce: row.relayerNonce!, to: tx.to!, data: tx.data, gasLimit: tx.gasLimit },
        max(bump(BigInt(last.maxFeePerGas)), fees.maxFeePerGas ?? 0n),
        max(bump(BigInt(last.maxPriorityFeePerGas)), fees.maxPriorityFeePerGas ?? 0n),
      );
      await this.outbox.replaced(row.id, replacement.raw, replacement.attempt);
      this.logger.log(
        `replaced outbox row ${row.id} (nonce ${row.relayerNonce} of ${this.address}) after ${row.attempts.length} attempt(s)`,
      );
      await this.broadcast(replacement.raw);
    } else if (!(await this.provider.getTransaction(last.hash))) {
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
    const raw = await this.wallet.signTransaction({
      type: 2,
      chainId: this.config.chainId,
      value: 0n,
      ...tx,
      maxFeePerGas,
      maxPriorityFeePerGas: maxPriorityFeePerGas > maxFeePerGas ? maxFeePerGas : maxPriorityFeePerGas,
    });
    const hash = Transaction.from(raw).hash!;
    return {
      raw,
      attempt: { hash, maxFeePerGas: maxFeePerGas.toString(), maxPriorityFeePerGas: maxPriorityFeePerGas.toString(), sentAt: Date.now() },
    };
  }

  private async broadcast(raw: string): Promise<void> {
    try {
      await this.provider.broadcastTransaction(raw);
    } catch (e) {
      // already known / nonce too low (an earlier attempt got mined): the watch settles it from the receipts
      this.logger.warn(
        `broadcast refused: ${String((e as Error).message)
          .split('\n')[0]
          .slice(0, 160)}`,
      );
    }
  }
}
