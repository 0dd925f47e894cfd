import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** What the metrics read of IndexerService's status (structural: the service imports this file). */
export interface IndexerProgress {
  state: string;
  role: string;
  chainHead: number | null;
  safeHead: number | null;
  indexedBlock: number | null;
  lagBlocks: number | null;
  reorgs: number;
  rpcRetries: number;
  blocksPerSecond: number | null;
  eventsPerSecond: number | null;
}

/**
 * The indexer's Prometheus registry (one per instance), served at `/metrics` beside `/health` and `/ready`: chain
 * head, safe head, indexed block and lag, events and blocks per second, reorgs and RPC retries, and its role.
 * Every value is read from the status at scrape time, so the endpoint shows what `/health` shows.
 */
export function indexerMetrics(status: IndexerProgress): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'openread_indexer_' });
  const gauge = (name: string, help: string, read: () => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = read();
        if (v === null) this.reset();
        else this.set(v);
      },
    });
  gauge('openread_indexer_chain_head_block', "the chain node's latest block", () => status.chainHead);
  gauge('openread_indexer_safe_head_block', 'newest block that may be indexed (head − confirmations)', () => status.safeHead);
  gauge('openread_indexer_indexed_block', 'newest block indexed', () => status.indexedBlock);
  gauge('openread_indexer_lag_blocks', 'blocks between the safe head and the indexed block', () => status.lagBlocks);
  gauge('openread_indexer_events_per_second', 'events indexed per second, recent rate', () => status.eventsPerSecond);
  gauge('openread_indexer_blocks_per_second', 'blocks indexed per second, recent rate', () => status.blocksPerSecond);
  new Gauge({
    name: 'openread_indexer_writer',
    help: '1 while this instance holds the writer lock, 0 in standby',
    registers: [registry],
    collect() {
      this.set(status.role === 'writer' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'openread_indexer_halted',
    help: '1 once a reorg deeper than the finality depth halted the indexer',
    registers: [registry],
    collect() {
      this.set(status.state === 'halted' ? 1 : 0);
    },
  });
  // counters that the status already counts: exposed as they are, at scrape time
  const counted = (name: string, help: string, read: () => number) => {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  };
  counted('openread_indexer_reorgs_total', 'chain reorganisations rolled back', () => status.reorgs);
  counted('openread_indexer_rpc_retries_total', 'JSON-RPC requests retried', () => status.rpcRetries);
  return registry;
}
