import { Interface, type JsonRpcProvider, toBigInt } from 'ethers';

/** How many recent blocks the fee percentile looks at. */
const FEE_HISTORY_BLOCKS = 20;

export interface RelayFeeOptions {
  /** percentile (1-99) of the tips paid in recent blocks */
  percentile: number;
  /** the tip never exceeds this, wei per gas */
  maxPriorityFeeWei: bigint;
}

export interface RelayFees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/**
 * The fees a service key pays, from the chain's recent blocks (eth_feeHistory) rather than ethers' getFeeData (whose
 * fixed 1 gwei tip and 2 × base fee are far off on L2s and on a local chain): the tip is the median over the last
 * blocks of the `percentile`-th tip paid in each block that had transactions, capped at `maxPriorityFeeWei`; with no
 * transactions to learn from, the node's own suggestion (eth_maxPriorityFeePerGas), capped too. The fee cap leaves
 * room for the base fee to double (two full blocks) before the transaction is priced out.
 */
export function relayFees(provider: JsonRpcProvider, opts: RelayFeeOptions): Promise<RelayFees> {
  // fees move once a block: every gasless request and every send within FEES_REUSE_MS shares one eth_feeHistory
  const key = `${opts.percentile}:${opts.maxPriorityFeeWei}`;
  const recent = recentFees.get(provider);
  if (recent && recent.key === key && Date.now() - recent.at < FEES_REUSE_MS) return recent.fees;
  const fees = feesFromHistory(provider, opts);
  recentFees.set(provider, { at: Date.now(), key, fees });
  fees.catch(() => {
    if (recentFees.get(provider)?.fees === fees) recentFees.delete(provider);
  });
  return fees;
}

/** How long one fee reading serves (about a block). */
const FEES_REUSE_MS = 1000;
const recentFees = new WeakMap<JsonRpcProvider, { at: number; key: string; fees: Promise<RelayFees> }>();

async function feesFromHistory(provider: JsonRpcProvider, opts: RelayFeeOptions): Promise<RelayFees> {
  const history = (await provider.send('eth_feeHistory', [`0x${FEE_HISTORY_BLOCKS.toString(16)}`, 'latest', [opts.percentile]])) as {
    baseFeePerGas: string[];
    gasUsedRatio: number[];
    reward?: string[][];
  };
  const tips = (history.reward ?? [])
    .map((r, i) => ({ tip: toBigInt(r[0] ?? '0x0'), used: history.gasUsedRatio[i] ?? 0 }))
    .filter((b) => b.used > 0)
    .map((b) => b.tip)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let tip = tips.length ? tips[Math.floor(tips.length / 2)] : toBigInt((await provider.send('eth_maxPriorityFeePerGas', [])) as string);
  if (tip > opts.maxPriorityFeeWei) tip = opts.maxPriorityFeeWei;
  // the last entry is the next block's base fee
  const nextBase = toBigInt(history.baseFeePerGas.at(-1) ?? '0x0');
  return { maxFeePerGas: nextBase * 2n + tip, maxPriorityFeePerGas: tip };
}

/** OP-stack's GasPriceOracle predeploy: the L1 data fee of a transaction's bytes. */
export const OP_GAS_PRICE_ORACLE = '0x420000000000000000000000000000000000000F';
const oracle = new Interface(['function getL1Fee(bytes) view returns (uint256)']);
const hasOracle = new WeakMap<JsonRpcProvider, Promise<boolean>>();

/** Whether the chain charges an L1 data fee (an OP-stack chain: its GasPriceOracle predeploy), looked up once per provider. */
export function chargesL1DataFee(provider: JsonRpcProvider): Promise<boolean> {
  let present = hasOracle.get(provider);
  if (!present) {
    present = provider.getCode(OP_GAS_PRICE_ORACLE).then((code) => code !== '0x');
    hasOracle.set(provider, present);
  }
  return present;
}

/**
 * The L1 data fee a transaction with these bytes (the unsigned serialized transaction) pays on an OP-stack chain
 * (OP Mainnet, Base, …), on top of its L2 gas: the GasPriceOracle predeploy's getL1Fee. 0 on chains without that
 * predeploy (mainnet, a local anvil): looked up once per provider.
 */
export async function l1DataFee(provider: JsonRpcProvider, unsignedTx: string): Promise<bigint> {
  if (!(await chargesL1DataFee(provider))) return 0n;
  const [fee] = oracle.decodeFunctionResult(
    'getL1Fee',
    await provider.call({ to: OP_GAS_PRICE_ORACLE, data: oracle.encodeFunctionData('getL1Fee', [unsignedTx]) }),
  );
  return fee as bigint;
}

/**
 * Real nodes (geth, reth, op-geth, Nethermind) refuse a transaction whose signed bytes exceed 128 KiB (geth's
 * txMaxSize); anvil has no such limit, so the sender applies it itself before it signs.
 */
export const MAX_TX_BYTES = 128 * 1024;
