import type { Provider, TransactionReceipt } from 'ethers';

/**
 * Polls for a receipt. Not ethers' `wait()`/`waitForTransaction`: anvil may answer eth_sendRawTransaction
 * before the block is mined, and ethers' block subscriber can start after that block, then waits for a block
 * that never comes (STACK-NOTES). Returns null on timeout.
 */
export async function waitForReceipt(
  provider: Provider,
  hash: string,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<TransactionReceipt | null> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await provider.getTransactionReceipt(hash);
    if (receipt) return receipt;
    if (Date.now() >= until) return null;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Awaits a sent transaction and polls its receipt; throws if it was not mined in time or reverted. */
export async function mined(
  sent: Promise<{ hash: string; provider: Provider }> | { hash: string; provider: Provider },
  timeoutMs = 60_000,
): Promise<TransactionReceipt> {
  const tx = await sent;
  const receipt = await waitForReceipt(tx.provider, tx.hash, timeoutMs);
  if (!receipt) throw new Error(`transaction ${tx.hash} not mined within ${timeoutMs / 1000} s`);
  if (receipt.status !== 1) throw new Error(`transaction ${tx.hash} reverted`);
  return receipt;
}
