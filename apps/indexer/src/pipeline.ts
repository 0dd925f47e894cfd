import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../libs/config/src/index.js';
import { OpenReadLogDecoder } from '../../../libs/chain/src/events.js';
import { JsonRpcClient, RpcLog } from '../../../libs/chain/src/json-rpc.js';
import { ChainEvent, EventStore } from '../../../libs/db/src/index.js';

export interface StepResult {
  from: number;
  to: number;
  events: number;
  fresh: ChainEvent[];
  /** true when the indexed block has reached the confirmed head */
  caughtUp: boolean;
}

/**
 * The indexer as a pipeline, one batch of blocks at a time:
 *
 *   fetch   eth_getLogs for the market, registry and parameters over [checkpoint+1, min(head − confirmations, +batch)]
 *           and the headers of the blocks that have logs (timestamps) and of the last block (checkpoint hash)
 *   decode  ABI-decode into named events with JSON-safe arguments
 *   store   one Postgres transaction: raw events (unique per chain/tx/log), projections, checkpoint
 *
 * Because the checkpoint moves in the same transaction as the data, a crash at any point either keeps or
 * loses the whole batch: a restart neither skips nor re-applies work. Only blocks with the configured number
 * of confirmations are read, so nothing is shown as settled before then.
 * Reorg handling (parent-hash check, rollback to the common ancestor) builds on the stored block hashes: issue 5.
 */
@Injectable()
export class IndexerPipeline {
  private readonly logger = new Logger('Indexer');
  private readonly rpc: JsonRpcClient;
  private readonly decoder: OpenReadLogDecoder;
  readonly stream: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: EventStore,
  ) {
    this.rpc = new JsonRpcClient(config.rpcUrl);
    this.decoder = new OpenReadLogDecoder(config.contracts);
    this.stream = `openread:${config.contracts.market}`;
  }

  async step(): Promise<StepResult> {
    const { chainId, contracts, indexer } = this.config;
    const checkpoint = await this.store.checkpoint(chainId, this.stream);
    const from = checkpoint ? checkpoint.blockNumber + 1 : contracts.deployBlock;
    const head = (await this.rpc.blockNumber()) - indexer.confirmations;
    if (head < from) return { from, to: from - 1, events: 0, fresh: [], caughtUp: true };
    const to = Math.min(head, from + indexer.batchBlocks - 1);

    // fetch
    const logs = await this.rpc.logs(this.decoder.addresses, from, to);
    const blockNumbers = [...new Set(logs.map((l) => Number(l.blockNumber)).concat(to))];
    const blocks = new Map(await Promise.all(blockNumbers.map(async (n) => [n, await this.rpc.block(n)] as const)));

    // decode
    const events = logs
      .filter((l) => !l.removed)
      .sort(byChainOrder)
      .flatMap((l): ChainEvent[] => {
        const decoded = this.decoder.decode(l);
        if (!decoded) return [];
        const block = blocks.get(Number(l.blockNumber))!;
        return [
          {
            blockNumber: Number(l.blockNumber),
            blockHash: l.blockHash.toLowerCase(),
            blockTime: Number(block.timestamp),
            txHash: l.transactionHash.toLowerCase(),
            logIndex: Number(l.logIndex),
            ...decoded,
          },
        ];
      });

    // store
    const last = blocks.get(to)!;
    const fresh = await this.store.storeBatch(chainId, this.stream, events, {
      blockNumber: to,
      blockHash: last.hash.toLowerCase(),
      blockTime: Number(last.timestamp),
    });
    if (events.length) this.logger.log(`blocks ${from}..${to}: ${events.length} events (${fresh.length} new)`);
    return { from, to, events: events.length, fresh, caughtUp: to === head };
  }
}

function byChainOrder(a: RpcLog, b: RpcLog): number {
  return Number(a.blockNumber) - Number(b.blockNumber) || Number(a.logIndex) - Number(b.logIndex);
}
