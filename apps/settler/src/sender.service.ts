import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Interface, JsonRpcProvider, Transaction, Wallet, solidityPacked, zeroPadValue } from 'ethers';
import { DataSource, QueryRunner } from 'typeorm';
import { APP_CONFIG, RepeatLog, newLogId, withLogId, type AppConfig } from '#config';
import { MAX_TX_BYTES, type RelayFees, classifyChainError, createProvider, l1DataFee, loadArtifact, relayFees, shortReason } from '#chain';
import {
  armLockSession,
  type ExecutedOutcome,
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
    /** for the log only */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** A gasless request someone else had executed first: that transaction is the request's outcome. */
class ExecutedElsewhere extends Error {
  constructor(readonly outcome: ExecutedOutcome) {
    super('executed by another transaction');
  }
}

/**
 * Node answers to a broadcast that mean the transaction (or an earlier attempt with its nonce) is already there:
 * the watch settles it from the receipts. Any other refusal is final for these bytes.
 */
const ALREADY_THERE = /already known|already imported|known transaction|nonce too low|replacement transaction underpriced|already exists/i;

type BroadcastResult = { kind: 'ok' } | { kind: 'unavailable' } | { kind: 'refused'; message: string };

/** How far back the sender looks for the forwarder's ExecutedForwardRequest of a front-run request (requests live minutes). */
const FRONT_RUN_LOOKBACK_BLOCKS = 5_000;

/** The chain's answer to a simulation that failed: a refusal to record, or (node unreachable) an error to retry. */
function refusal(e: unknown): Refused {
  const f = classifyChainError(e);
  if (f.kind === 'UNAVAILABLE') throw e;
  if (f.kind === 'REVERTED') return new Refused(f.code, f.message, f.reason);
  // the node's own words stay in the worker's log: clients get a fixed sentence
  return new Refused('CONFLICT', 'the chain node refused the transaction', 'NODE_REFUSED', f.detail);
}

/**
 * The one transaction sender: drains the transaction outbox (relay_requests: gasless requests and the service keys'
 * governance, treasury, settlement and anchor calls), one lane per sending key. The API and the worker's timers only
 * enqueue; this is the only code that signs with a service key.
 * - one process sends per key (a session advisory lock in Postgres, per key address; each nonce is committed through
 *   that lock's connection, so only the holder can assign one);
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

  /**
   * Per key: whether its transactions are stuck (it has transactions in flight and its mined nonce has not moved for
   * `stallAfterMs`): what the worker's health reports; an operator looks at the node, the fees or the key's balance.
   */
  health(): LaneHealth[] {
    return this.lanes.map((l) => l.health());
  }

  /** Look at the outbox now rather than at the next poll: the lane of `sender`, or every lane. */
  kick(sender?: string): void {
    for (const lane of this.lanes) if (!sender || lane.address === sender.toLowerCase()) lane.kick();
  }
}

export interface LaneHealth {
  address: string;
  /** transactions in flight and the key's mined nonce unchanged for longer than the stall bound */
  stalled: boolean;
  /** the key's mined nonce count when last read */
  minedNonce: number | null;
  /** ms since the mined nonce last moved (or since the lane started) */
  sinceAdvanceMs: number;
  inFlight: number;
  /** this worker holds the key's sending lock (the active sender; the other workers wait) */
  sending: boolean;
}

/** The sender of one key. */
class SenderLane {
  private readonly forwarder = new Interface(loadArtifact('OpenReadForwarder').abi);
  readonly address: string;
  private lock?: QueryRunner;
  /** the Postgres backend of the lock connection */
  private lockPid: number | null = null;
  private locked = false;
  private stopped = false;
  private wake?: () => void;
  private kicked = false;
  private loop?: Promise<void>;
  private readonly failures: RepeatLog;
  /** the key's mined nonce count, when it last changed, and how many rows were in flight at the last pass */
  private minedNonce: number | null = null;
  private nonceMovedAt = Date.now();
  private inFlightCount = 0;
  private reportedStall = false;
  /** when a row's nonce was first seen passed with no receipt of its own (see watch) */
  private readonly nonceGoneSince = new Map<string, number>();

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

  /** stuck: rows in flight and the mined nonce still for 3 replacement periods (at least 5 s) */
  health(): LaneHealth {
    const since = Date.now() - this.nonceMovedAt;
    const bound = Math.max(5_000, 3 * this.config.relay.replaceAfterMs);
    return {
      address: this.address,
      stalled: this.inFlightCount > 0 && since > bound,
      minedNonce: this.minedNonce,
      sinceAdvanceMs: since,
      inFlight: this.inFlightCount,
      sending: this.locked,
    };
  }

  private noteMinedNonce(n: number): void {
    if (n !== this.minedNonce) {
      if (this.minedNonce !== null) this.nonceMovedAt = Date.now();
      this.minedNonce = n;
    }
  }

  private fees(): Promise<RelayFees> {
    return relayFees(this.provider, {
      percentile: this.config.relay.feePercentile,
      maxPriorityFeeWei: this.config.relay.maxPriorityFeeWei,
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.kicked = false;
      // one id per pass (its lines, its failure); each row it sends or watches gets its own (see tick)
      const sent = await withLogId(newLogId('lane'), async () => {
        try {
          const sent = await this.tick();
          this.failures.ok(`send passes of ${this.address} recovered`);
          return sent;
        } catch (e) {
          this.failures.error(`send pass of ${this.address} failed: ${(e as Error).message.split('\n')[0]}`);
          return false;
        }
      });
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

  /**
   * Takes the key's sending lock, or proves it still holds it: a session lock lives as long as its connection, so a
   * query answered on that connection means the lock is still this lane's. A lane whose lock connection went away
   * (Postgres restarted, the connection cut) steps down: another worker may hold the key by now.
   */
  private async holdLock(): Promise<boolean> {
    if (this.locked) {
      try {
        await this.lock!.query('SELECT 1');
        return true;
      } catch (e) {
        this.logger.warn(`lost the sending lock of ${this.address} (${(e as Error).message.split('\n')[0]}): stepping down`);
        await this.stepDown();
      }
    }
    this.lock ??= this.db.createQueryRunner();
    let ok: boolean;
    try {
      [{ ok, pid: this.lockPid }] = await this.lock.query(
        `SELECT pg_try_advisory_lock(hashtext('openread-relayer:' || $1)) AS ok, pg_backend_pid() AS pid`,
        [this.wallet.address],
      );
    } catch (e) {
      // a query runner whose connection failed stays failed: a standby that lived through an outage starts afresh
      await this.stepDown();
      throw e;
    }
    if (ok) {
      await armLockSession(this.lock); // a vanished worker's host gives the key up within ~10 s, not hours
      this.logger.log(`sending for ${this.address} (holds its lock)`);
    }
    this.locked = ok;
    return ok;
  }

  /**
   * Gives the lock connection up. A session that did not answer may still be alive and hold the lock: returned to the
   * pool like that, it would keep the key from every worker, this one included. So the session still holding this
   * key's lock under the recorded backend id, if any, is ended first (through the pool).
   */
  private async stepDown(): Promise<void> {
    this.locked = false;
    const lock = this.lock;
    this.lock = undefined;
    if (this.lockPid !== null)
      await this.db
        .query(
          `SELECT pg_terminate_backend(l.pid) FROM pg_locks l, (SELECT hashtext('openread-relayer:' || $2)::bigint AS k) x
           WHERE l.pid = $1 AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND l.classid = ((x.k >> 32) & 4294967295)::oid AND l.objid = (x.k & 4294967295)::oid`,
          [this.lockPid, this.wallet.address],
        )
        .catch(() => undefined);
    this.lockPid = null;
    await lock?.release().catch(() => undefined);
  }

  /** true when a new transaction was sent */
  private async tick(): Promise<boolean> {
    if (!(await this.holdLock())) return false;
    const inFlight = new Set<string>();
    let sent = false;
    const rows = await this.outbox.pending(this.config.chainId, this.address, this.gasless);
    const sentRows = rows.filter((r) => r.status === 'SENT').length;
    if (sentRows === 0 && this.inFlightCount === 0) this.nonceMovedAt = Date.now();
    this.inFlightCount = sentRows;
    const { stalled, sinceAdvanceMs } = this.health();
    if (stalled && !this.reportedStall)
      this.logger.error(
        `the transactions of ${this.address} are stuck: ${sentRows} in flight, nonce unchanged for ${Math.round(sinceAdvanceMs / 1000)} s`,
      );
    this.reportedStall = stalled;
    for (const row of rows) {
      if (this.stopped) break;
      const line = row.purpose === 'gasless' ? `signer:${row.signer}` : `row:${row.id}`;
      // one send attempt (simulate, sign, store, broadcast) or one look at a sent row: its lines share an id
      if (row.status === 'SENT') {
        if (!(await withLogId(newLogId('watch'), () => this.watch(row)))) inFlight.add(line);
      } else if (!inFlight.has(line)) {
        if (await withLogId(newLogId('send'), () => this.send(row))) sent = true;
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
    // (whether someone else executed the signed request is asked only when it would not go through: a front-run
    // request fails the simulation below, its nonce being used, or has expired meanwhile)
    const block = await this.provider.getBlock('latest');
    if (g.deadline <= block!.timestamp) {
      await this.checkNotExecuted(g);
      throw new Refused('BAD_INPUT', 'the request expired before it could be sent', null);
    }
    const data = this.forwarder.encodeFunctionData('execute', [
      { from: g.signer, to: g.target, value: 0n, gas: g.gas, deadline: g.deadline, data: g.data, signature: g.signature },
    ]);
    try {
      // the inner call first: the forwarder would hide its reason behind FailedCall
      await this.provider.estimateGas({ from: forwarder, to: g.target, data: solidityPacked(['bytes', 'address'], [g.data, g.signer]) });
      const gas = await this.provider.estimateGas({ from: this.wallet.address, to: forwarder, data });
      return { to: forwarder, data, gasLimit: (gas * 12n) / 10n };
    } catch (e) {
      const refused = refusal(e);
      await this.checkNotExecuted(g);
      throw refused;
    }
  }

  /**
   * A gasless request whose forwarder nonce is already used: someone sent the signed request to the forwarder
   * themselves (front-running the relayer, or the signer's own transaction). Sending the relayer's copy would only
   * revert at the signer's cost; the other transaction is the outcome.
   */
  private async checkNotExecuted(g: GaslessRow): Promise<void> {
    const found = await this.executedElsewhere(g);
    if (found) throw new ExecutedElsewhere(found);
  }

  private async executedElsewhere(g: GaslessRow): Promise<ExecutedElsewhere['outcome'] | null> {
    const forwarder = this.config.contracts.forwarder!;
    const [used] = this.forwarder.decodeFunctionResult(
      'nonces',
      await this.provider.call({ to: forwarder, data: this.forwarder.encodeFunctionData('nonces', [g.signer]) }),
    );
    if ((used as bigint) <= g.signerNonce) return null;
    const latest = await this.provider.getBlockNumber();
    const logs = await this.provider.getLogs({
      address: forwarder,
      topics: [this.forwarder.getEvent('ExecutedForwardRequest')!.topicHash, zeroPadValue(g.signer, 32)],
      fromBlock: Math.max(0, latest - FRONT_RUN_LOOKBACK_BLOCKS),
      toBlock: latest,
    });
    for (const log of logs) {
      const ev = this.forwarder.parseLog(log)!;
      if ((ev.args.nonce as bigint) !== g.signerNonce) continue;
      // this key's own transaction, which the row does not know (the database restored from a backup taken before
      // it was sent): the signer pays for it as for any relayed request
      const receipt = await this.provider.getTransactionReceipt(log.transactionHash);
      const paidBy =
        receipt && receipt.from.toLowerCase() === this.address
          ? { relayer: this.address, costWei: receipt.gasUsed * receipt.gasPrice }
          : undefined;
      return ev.args.success
        ? { status: 'MINED', txHash: log.transactionHash, blockNumber: log.blockNumber, paidBy }
        : {
            status: 'FAILED',
            txHash: log.transactionHash,
            blockNumber: log.blockNumber,
            errorMessage: 'the request was executed by another transaction, and its call failed',
            paidBy,
          };
    }
    // used, but not by a request we can find (older than the look-back): the relayer's copy could only revert
    throw new Refused('CONFLICT', 'the request was already executed by another transaction', null);
  }

  /** true when it was sent, false when it was refused (FAILED) */
  private async send(row: RelayRow): Promise<boolean> {
    let tx: { to: string; data: string; gasLimit: bigint };
    let fees: RelayFees;
    let chainNonce: number;
    try {
      // fees and nonce first, so the simulation in build() is the last read before the signed bytes are stored
      // and broadcast (the window a front-runner has shrinks to one database write)
      fees = await this.fees();
      chainNonce = await this.provider.getTransactionCount(this.wallet.address, 'pending');
      tx = await this.build(row);
      const unsigned = Transaction.from({
        type: 2,
        chainId: this.config.chainId,
        nonce: chainNonce,
        value: 0n,
        ...tx,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      }).unsignedSerialized;
      // signed bytes = unsigned + signature (y-parity, r, s: at most 67 bytes) and list-header growth
      if ((unsigned.length - 2) / 2 + 70 > MAX_TX_BYTES)
        throw new Refused('BAD_INPUT', `the transaction would exceed ${MAX_TX_BYTES} bytes, which nodes refuse`, null);
      if (row.purpose === 'gasless') {
        const cost = tx.gasLimit * fees.maxFeePerGas + (await l1DataFee(this.provider, unsigned));
        if (!(await this.outbox.recheckSpend(row.id, this.config.chainId, row.signer!, cost, this.config.relay.spendLimitWei)))
          throw new Refused(
            'RATE_LIMITED',
            "the signer's gasless spend limit for the last 24 hours is used up at the fees of now",
            'SPEND_LIMIT',
          );
      }
    } catch (e) {
      if (e instanceof ExecutedElsewhere) {
        this.logger.warn(`gasless ${row.function} (outbox row ${row.id}) was executed by ${e.outcome.txHash}: not sent`);
        await this.outbox.executedElsewhere(row.id, e.outcome);
        return false;
      }
      if (!(e instanceof Refused)) throw e; // the node: retry at the next pass
      if (row.purpose === 'settlement') this.logger.debug?.(`${row.function} (outbox row ${row.id}) not sent: ${e.message}`);
      else this.logger.warn(`${row.purpose} ${row.function} (outbox row ${row.id}) refused at send time: ${e.detail ?? e.message}`);
      await this.outbox.failed(row.id, e.code, e.message, e.reason);
      return false;
    }
    // through the lock's own connection: the nonce and the signed bytes commit only while this lane holds the key
    // (a lane whose lock session ended cannot commit a nonce another worker also assigns)
    const sent = await this.outbox.markSent(
      row.id,
      this.config.chainId,
      this.address,
      chainNonce,
      (nonce) => this.sign({ nonce, ...tx }, fees.maxFeePerGas, fees.maxPriorityFeePerGas),
      this.lock!.manager,
    );
    const result = await this.broadcast(sent!.rawTx!);
    if (result.kind === 'refused') await this.fillNonce(sent!, result.message, fees);
    return true;
  }

  /**
   * The node refused a row's transaction for good after its nonce was committed: the row fails (the client learns
   * why) and a 0-value transfer to the key itself takes the nonce, so later transactions are not stuck behind it.
   */
  private async fillNonce(row: RelayRow, reason: string, fees: RelayFees): Promise<void> {
    this.logger.warn(
      `outbox row ${row.id} (nonce ${row.relayerNonce} of ${this.address}) refused by the node: ${reason}; filling the nonce`,
    );
    const fill = await this.sign(
      { nonce: row.relayerNonce!, to: this.wallet.address, data: '0x', gasLimit: 21_000n },
      fees.maxFeePerGas,
      fees.maxPriorityFeePerGas,
    );
    await this.outbox.refusedAtBroadcast(row.id, 'CONFLICT', 'the chain node refused the transaction; prepare a new request', {
      chainId: this.config.chainId,
      sender: this.address,
      nonce: row.relayerNonce!,
      raw: fill.raw,
      attempt: fill.attempt,
    });
    await this.broadcast(fill.raw);
  }

  /** true when the row is settled */
  private async watch(row: RelayRow): Promise<boolean> {
    // the key's mined nonce count, read before the receipts: if it has passed this row's nonce and none of the
    // row's attempts has a receipt, the nonce went to another transaction (the key used elsewhere)
    const minedNonces = await this.provider.getTransactionCount(this.wallet.address, 'latest');
    this.noteMinedNonce(minedNonces);
    for (const attempt of [...row.attempts].reverse()) {
      const receipt = await this.provider.getTransactionReceipt(attempt.hash);
      if (!receipt) continue;
      this.nonceGoneSince.delete(row.id);
      if (receipt.status !== 1 && row.purpose === 'gasless') {
        // reverted: if a front-runner executed the signed request first, that is the request's outcome and the
        // signer is not charged for the relayer's copy
        const elsewhere = await this.executedElsewhere(row as GaslessRow).catch(() => null);
        if (elsewhere) {
          this.logger.warn(
            `gasless ${row.function} (outbox row ${row.id}) was front-run by ${elsewhere.txHash}; the relayer's copy reverted`,
          );
          await this.outbox.executedElsewhere(row.id, elsewhere);
          return true;
        }
      }
      await this.outbox.finished(row.id, {
        status: receipt.status === 1 ? 'MINED' : 'REVERTED',
        txHash: receipt.hash,
        blockNumber: receipt.blockNumber,
        costWei: receipt.gasUsed * receipt.gasPrice,
      });
      return true;
    }
    if (minedNonces > row.relayerNonce! && (await this.nonceSurelyGone(row))) {
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
      const fees = await this.fees();
      const replacement = await this.sign(
        { nonce: row.relayerNonce!, to: tx.to!, data: tx.data, gasLimit: tx.gasLimit },
        max(bump(BigInt(last.maxFeePerGas)), fees.maxFeePerGas),
        max(bump(BigInt(last.maxPriorityFeePerGas)), fees.maxPriorityFeePerGas),
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

  /**
   * Whether a row's nonce really went to another transaction. The nonce count and the receipts may come from
   * different nodes behind one RPC endpoint, one of them lagging: a missing receipt then means "not seen yet", not
   * "never mined". So the row is requeued only when the nonce has been passed, with none of its attempts found by
   * hash, on every pass for a while (twice RELAY_REPLACE_AFTER_MS, at least 5 s): long enough for a lagging node
   * to catch up, and any sighting of an attempt starts the wait again.
   */
  private async nonceSurelyGone(row: RelayRow): Promise<boolean> {
    for (const attempt of row.attempts)
      if (await this.provider.getTransaction(attempt.hash)) {
        this.nonceGoneSince.delete(row.id);
        return false;
      }
    const first = this.nonceGoneSince.get(row.id);
    if (first === undefined) {
      this.nonceGoneSince.set(row.id, Date.now());
      return false;
    }
    if (Date.now() - first < Math.max(5_000, 2 * this.config.relay.replaceAfterMs)) return false;
    this.nonceGoneSince.delete(row.id);
    return true;
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

  private async broadcast(raw: string): Promise<BroadcastResult> {
    try {
      await this.provider.send('eth_sendRawTransaction', [raw]);
      return { kind: 'ok' };
    } catch (e) {
      const f = classifyChainError(e);
      const message = shortReason(e);
      // unreachable: the stored bytes are broadcast again by the watch; already there: the watch settles it
      if (f.kind === 'UNAVAILABLE' || ALREADY_THERE.test(message) || ALREADY_THERE.test(f.message)) {
        this.logger.warn(`broadcast not accepted (${message.slice(0, 160)}): the watch settles it`);
        return f.kind === 'UNAVAILABLE' ? { kind: 'unavailable' } : { kind: 'ok' };
      }
      return { kind: 'refused', message };
    }
  }
}
