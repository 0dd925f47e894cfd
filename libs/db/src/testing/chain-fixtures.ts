import type { BlockHeader, ChainEvent } from '../chain-events.js';

/** Fixtures for repository tests that feed the store decoded events: hex values, headers and events by block. */
export const hex = (n: number | bigint, bytes: number) => '0x' + n.toString(16).padStart(bytes * 2, '0');

/**
 * Headers and events of a test chain whose block `n` is at chain time `timeOf(n)`; log indexes count up across
 * the whole chain (unique per block, as the store requires), tx hashes are unique per event.
 */
export function testChain(timeOf: (block: number) => number) {
  let logIndex = 0;
  const header = (n: number, time = timeOf(n)): BlockHeader => ({
    blockNumber: n,
    blockHash: hex(n, 32),
    parentHash: hex(n - 1, 32),
    blockTime: time,
  });
  const event = (block: number, name: string, args: ChainEvent['args'], time = timeOf(block)): ChainEvent => ({
    blockNumber: block,
    blockHash: hex(block, 32),
    blockTime: time,
    txHash: hex(block * 100_000 + logIndex, 32),
    logIndex: logIndex++,
    contract: hex(1, 20),
    name,
    args,
  });
  return { header, event };
}
