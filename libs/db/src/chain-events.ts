// The shapes of the indexed chain: what the indexer stores (apps/indexer/src/store) and what the bus and the
// readers see of it.

/** A decoded chain log, as the indexer's decode stage hands it to the store. Numbers beyond 2^53 are decimal strings. */
export interface ChainEvent {
  blockNumber: number;
  blockHash: string;
  blockTime: number;
  txHash: string;
  logIndex: number;
  contract: string;
  name: string;
  /** see EventArg in libs/chain/src/events.ts: arrays hold decoded elements */
  args: Record<string, EventArgValue>;
}
export type EventArgValue = string | number | boolean | EventArgValue[];

export interface BlockHeader {
  blockNumber: number;
  blockHash: string;
  parentHash: string;
  blockTime: number;
}

export interface Checkpoint {
  blockNumber: number;
  blockHash: string | null;
  blockTime: number | null;
  /** the chain head the indexer last saw */
  chainHead: number | null;
  /** set when the indexer stopped itself (a reorg deeper than the finality depth) */
  haltedReason: string | null;
}

/** A message waiting for the bus: a stored event, or the notice that a reorg removed one already published. */
export interface OutboxMessage {
  /** `event:<chain_events.id>` or `notice:<outbox.id>` */
  key: string;
  /** stable across redeliveries: consumers deduplicate on it */
  messageId: string;
  event: ChainEvent & { chainId: number; removed: boolean };
}
