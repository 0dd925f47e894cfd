import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, indexerStream } from '#config';
import { OpenReadLogDecoder, JsonRpcClient, type RpcBlock, type RpcLog } from '#chain';
import { type BlockHeader, type ChainEvent, type Checkpoint } from '#db';
import { EventStore, type StoreWriter } from './store/event-store.js';

export interface StepResult {
  from: number;
  to: number;
  events: number;
  fresh: number;
  /** the chain's latest block */
  chainHead: number;
  /** the newest block the indexer may index (head − confirmations) */
  safeHead: number;
  /** true when the indexed block has reached the confirmed head */
  caughtUp: boolean;
  /** set when this step found a reorg and rolled back */
  reorg?: { ancestor: number; depth: number; removed: number };
}

interface Fetched {
  logs: RpcLog[];
  headers: Map<number, BlockHeader>;
  /** blocks of the range inside the finality window (all their headers are fetched and stored) */
  window: Set<number>;
}

/** The chain changed while a batch was being fetched: nothing was stored, try again. */
export class ChainMovedError extends Error {}

/** A reorg deeper than the finality depth: the indexer must stop rather than guess. */
export class FinalityViolationError extends Error {}

const header = (b: RpcBlock): BlockHeader => ({
  blockNumber: Number(b.number),
  blockHash: b.hash.toLowerCase(),
  parentHash: b.parentHash.toLowerCase(),
  blockTime: Number(b.timestamp),
});

/**
 * The indexer as a pipeline, one batch of blocks at a time:
 *
 *   check   the stored checkpoint block is still the chain's block at that height (else: reorg → rollback)
 *   fetch   eth_getLogs over [checkpoint+1, min(head − confirmations, +batch)] (ranges the node refuses are
 *           split), and the headers of: the first and last block, every block with logs, and every block
 *           inside the finality window [head − finalityDepth, head]
 *           (its lowest block is the ancestor a reorg of finalityDepth blocks rolls back to, and what pruning keeps)
 *   verify  the first header's parent is the checkpoint; headers in the window link by parent hash; every
 *           log's block hash is its header's hash. Any mismatch means the chain moved during the fetch:
 *           nothing is stored and the step is retried.
 *   decode  topic/word slicing into named events with JSON-safe arguments
 *           (while a backfill batch of final blocks is stored, the next one is already being fetched)
 *   store   one Postgres transaction through the single writer: events (unique per chain/tx/log), projections,
 *           outbox rows, headers, checkpoint
 *
 * A reorg is found by the checkpoint check (or a parent-hash mismatch): the stored headers of the window are
 * compared with the chain's from the newest down; the first match is the common ancestor, everything above it
 * is rolled back (EventStore.rollback) and re-indexed from the new branch by the following steps. No stored
 * header matching within the finality depth means a reorg deeper than it: FinalityViolationError.
 *
 * Because the checkpoint moves in the same transaction as the data, a crash at any point either keeps or
 * loses a whole batch: a restart neither skips nor re-applies work.
 */
@Injectable()
export class IndexerPipeline {
  private readonly logger = new Logger('Indexer');
  readonly rpc: JsonRpcClient;
  private readonly decoder: OpenReadLogDecoder;
  readonly stream: string;
  /** milliseconds spent per stage since start (benchmark, metrics) */
  readonly timings = { check: 0, logs: 0, headers: 0, decode: 0, store: 0 };
  /** the next batch, fetched while the current one is stored */
  private prefetched: { from: number; to: number; data: Promise<Fetched> } | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: EventStore,
  ) {
    this.rpc = new JsonRpcClient(config.rpcUrl, {
      timeoutMs: config.indexer.rpcTimeoutMs,
      onRetry: (method, attempt, e) => {
        if (attempt >= 3) this.logger.warn(`${method} failed ${attempt}×, retrying: ${e.message}`);
      },
    });
    this.decoder = new OpenReadLogDecoder(config.contracts);
    this.stream = indexerStream(config);
  }

  get startBlock(): number {
    return this.config.indexer.startBlock ?? this.config.contracts.deployBlock;
  }

  async step(writer: StoreWriter): Promise<StepResult> {
    const { chainId, indexer } = this.config;
    let t = performance.now();
    const lap = (stage: keyof IndexerPipeline['timings']) => {
      const now = performance.now();
      this.timings[stage] += now - t;
      t = now;
    };
    const cp = await this.store.checkpoint(chainId, this.stream);
    const chainHead = await this.rpc.blockNumber();
    const safeHead = chainHead - indexer.confirmations;
    const finalized = chainHead - indexer.finalityDepth;
    const base = { events: 0, fresh: 0, chainHead, safeHead };

    // check: is our newest block still canonical?
    if (cp?.blockHash) {
      const onChain = cp.blockNumber <= chainHead ? await this.rpc.blockOrNull(cp.blockNumber) : null;
      if (!onChain || onChain.hash.toLowerCase() !== cp.blockHash) {
        const reorg = await this.rollBackReorg(writer, cp, chainHead, onChain);
        return { ...base, from: reorg.ancestor + 1, to: reorg.ancestor, caughtUp: false, reorg };
      }
    }

    lap('check');
    const from = cp ? cp.blockNumber + 1 : this.startBlock;
    if (safeHead < from) {
      if (cp && cp.chainHead !== chainHead) await writer.setHead(chainHead);
      return { ...base, from, to: from - 1, caughtUp: true };
    }
    const to = Math.min(safeHead, from + indexer.batchBlocks - 1);

    // fetch (or take what was fetched ahead while the previous batch was being stored)
    const pre = this.prefetched;
    this.prefetched = null;
    let fetched: Fetched;
    if (pre && pre.from === from && pre.to === to && to <= finalized)
      fetched = await pre.data.catch(() => this.fetchRange(from, to, finalized));
    else fetched = await this.fetchRange(from, to, finalized);
    const { logs, headers, window } = fetched;
    lap('logs');
    lap('headers');
    // verify
    const first = headers.get(from)!;
    if (cp?.blockHash && first.parentHash !== cp.blockHash)
      throw new ChainMovedError(`block ${from} does not build on the checkpoint ${cp.blockNumber} (reorg in progress)`);
    for (const n of window) {
      const prev = headers.get(n - 1);
      if (prev && headers.get(n)!.parentHash !== prev.blockHash)
        throw new ChainMovedError(`blocks ${n - 1} and ${n} do not link (reorg in progress)`);
    }
    for (const l of logs) {
      if (headers.get(Number(l.blockNumber))!.blockHash !== l.blockHash.toLowerCase())
        throw new ChainMovedError(`a log of block ${Number(l.blockNumber)} is from another branch (reorg in progress)`);
    }

    // decode
    const events: ChainEvent[] = [];
    for (const l of logs) {
      const decoded = this.decoder.decode(l);
      if (!decoded) continue;
      const n = Number(l.blockNumber);
      events.push({
        blockNumber: n,
        blockHash: l.blockHash.toLowerCase(),
        blockTime: headers.get(n)!.blockTime,
        txHash: l.transactionHash.toLowerCase(),
        logIndex: Number(l.logIndex),
        contract: decoded.contract,
        name: decoded.name,
        args: decoded.args,
      });
    }
    events.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);

    lap('decode');
    // fetch ahead while storing (backfill of final blocks only: nothing there can change under us)
    const nextTo = Math.min(safeHead, to + indexer.batchBlocks);
    if (to < safeHead && nextTo <= finalized) {
      const data = this.fetchRange(to + 1, nextTo, finalized);
      data.catch(() => undefined); // a failed prefetch is simply fetched again
      this.prefetched = { from: to + 1, to: nextTo, data };
    }
    // store
    const fresh = await writer.storeBatch(events, headers.get(to)!, {
      blocks: [...window].map((n) => headers.get(n)!),
      chainHead,
      pruneBelow: to - indexer.finalityDepth,
    });
    lap('store');
    return { ...base, from, to, events: events.length, fresh: fresh.length, caughtUp: to === safeHead };
  }

  private async fetchRange(from: number, to: number, finalized: number): Promise<Fetched> {
    const logs = (
      await this.rpc.logs(this.decoder.addresses, from, to).catch((e: Error) => {
        // the chain got shorter between eth_blockNumber and eth_getLogs (a reorg under way)
        if (/block height is \d+ but requested was|header not found|unknown block|block not found/i.test(e.message))
          throw new ChainMovedError(e.message);
        throw e;
      })
    ).filter((l) => !l.removed);
    const window = new Set<number>();
    for (let n = Math.max(from, finalized); n <= to; n++) window.add(n);
    const wanted = [...new Set([from, to, ...window, ...logs.map((l) => Number(l.blockNumber))])].sort((a, b) => a - b);
    const got = await this.rpc.blocks(wanted);
    const headers = new Map<number, BlockHeader>();
    got.forEach((b, i) => {
      if (!b) throw new ChainMovedError(`block ${wanted[i]} disappeared during the fetch`);
      headers.set(wanted[i], header(b));
    });
    return { logs, headers, window };
  }

  /** Finds the common ancestor among the stored headers of the finality window and rolls back to it. */
  private async rollBackReorg(
    writer: StoreWriter,
    cp: Checkpoint,
    chainHead: number,
    onChain: RpcBlock | null,
  ): Promise<{ ancestor: number; depth: number; removed: number }> {
    const { chainId, indexer } = this.config;
    const stored = await this.store.blocks(chainId, this.stream, cp.blockNumber - indexer.finalityDepth, cp.blockNumber);
    let ancestor: BlockHeader | null = null;
    for (let i = 0; i < stored.length && !ancestor; i += 64) {
      const part = stored.slice(i, i + 64);
      const chain = await this.rpc.blocks(part.map((b) => b.blockNumber));
      const k = part.findIndex((b, j) => chain[j]?.hash.toLowerCase() === b.blockHash);
      if (k >= 0) ancestor = part[k];
    }
    const seen = onChain ? `the chain now has ${onChain.hash}` : `the chain (head ${chainHead}) no longer has that block`;
    if (!ancestor || ancestor.blockNumber < cp.blockNumber - indexer.finalityDepth) {
      throw new FinalityViolationError(
        `reorg deeper than the finality depth (${indexer.finalityDepth} blocks): indexed block ${cp.blockNumber} was ${cp.blockHash}, ` +
          `${seen}, and none of the ${stored.length} stored blocks down to ${cp.blockNumber - indexer.finalityDepth} is on the chain any more. ` +
          `Refusing to guess: check the node (is it on the right chain?), then re-index from scratch or raise INDEXER_FINALITY_DEPTH.`,
      );
    }
    const depth = cp.blockNumber - ancestor.blockNumber;
    const { removed } = await writer.rollback(ancestor);
    this.logger.warn(
      `reorg at block ${cp.blockNumber} (${seen}): rolled back ${depth} block(s) to ${ancestor.blockNumber}, ${removed} event(s) undone`,
    );
    return { ancestor: ancestor.blockNumber, depth, removed };
  }
}
