import { mined } from '#chain';
import type { Stack } from './stack.js';

/** Mints `amount` test tokens to the RO wallet, approves the market and deposits them into the RO's market balance. */
export async function fundRo(stack: Stack, ro: { address: string }, amount: bigint): Promise<void> {
  const { owner } = stack;
  await mined(owner.token.mint(ro.address, amount));
  await mined((owner.token.connect(ro as never) as typeof owner.token).approve(stack.deployment.market, amount));
  await mined((owner.market.connect(ro as never) as typeof owner.market).deposit(amount));
}
