import { createRequire } from 'node:module';
import { Interface, ZeroAddress, ZeroHash, concat, getAddress, getBytes, getCreate2Address, keccak256, solidityPacked } from 'ethers';

/**
 * Safe{Wallet} 1.4.1 at run time: the contracts' addresses (CREATE2 through the Safe singleton factory, salt 0, so
 * every chain that has them gets the same addresses), ABI, MultiSend batches and the EIP-712 SafeTx. Deploying
 * them on a local chain is tooling: tools/devchain/src/safe.ts.
 */
const require = createRequire(import.meta.url);

/** protocol-kit's `contractNetworks[chainId]` entry. */
export interface SafeInfrastructure {
  safeSingletonAddress: string;
  safeProxyFactoryAddress: string;
  multiSendAddress: string;
  multiSendCallOnlyAddress: string;
  fallbackHandlerAddress: string;
  signMessageLibAddress: string;
  createCallAddress: string;
  simulateTxAccessorAddress: string;
}

export const SAFE_ARTIFACTS: Record<keyof SafeInfrastructure, string> = {
  safeSingletonAddress: 'SafeL2.sol/SafeL2.json',
  safeProxyFactoryAddress: 'proxies/SafeProxyFactory.sol/SafeProxyFactory.json',
  multiSendAddress: 'libraries/MultiSend.sol/MultiSend.json',
  multiSendCallOnlyAddress: 'libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json',
  fallbackHandlerAddress: 'handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
  signMessageLibAddress: 'libraries/SignMessageLib.sol/SignMessageLib.json',
  createCallAddress: 'libraries/CreateCall.sol/CreateCall.json',
  simulateTxAccessorAddress: 'accessors/SimulateTxAccessor.sol/SimulateTxAccessor.json',
};
/** A Safe 1.4.1 contract's compiled artifact (by its key in {@link SafeInfrastructure}). */
export const safeArtifact = (key: keyof SafeInfrastructure) => artifact(SAFE_ARTIFACTS[key]);
const artifact = (path: string): { abi: unknown[]; bytecode: string } =>
  require(`@safe-global/safe-contracts/build/artifacts/contracts/${path}`);

/** Where deploySafeInfrastructure (#devchain) puts (or has put) the Safe 1.4.1 contracts on chain `chainId` (CREATE2). */
export function safeInfrastructureAddresses(chainId: number | bigint): SafeInfrastructure {
  const factory = require(`@safe-global/safe-singleton-factory/artifacts/${chainId}/deployment.json`) as { address: string };
  const out = {} as SafeInfrastructure;
  for (const [key, path] of Object.entries(SAFE_ARTIFACTS) as [keyof SafeInfrastructure, string][]) {
    out[key] = getCreate2Address(factory.address, ZeroHash, keccak256(artifact(path).bytecode));
  }
  return out;
}

/** The Safe ABI (1.4.1, L2 singleton), e.g. for reading nonce / owners / threshold with ethers. */
export const safeAbi = () => artifact(SAFE_ARTIFACTS.safeSingletonAddress).abi as never;

/** One call of a batch. */
export interface SafeCall {
  to: string;
  value: bigint;
  data: string;
}

/**
 * A batch as one Safe transaction: a DELEGATECALL (operation 1) of MultiSendCallOnly.multiSend with the calls
 * packed as `uint8 operation (0 = call), address to, uint256 value, uint256 dataLength, bytes data` each.
 */
export function multiSendBatch(infra: SafeInfrastructure, calls: SafeCall[]): { to: string; value: bigint; data: string; operation: 1 } {
  const packed = concat(
    calls.map((c) =>
      solidityPacked(['uint8', 'address', 'uint256', 'uint256', 'bytes'], [0, c.to, c.value, getBytes(c.data).length, c.data]),
    ),
  );
  const data = new Interface(artifact(SAFE_ARTIFACTS.multiSendCallOnlyAddress).abi as never).encodeFunctionData('multiSend', [packed]);
  return { to: infra.multiSendCallOnlyAddress, value: 0n, data, operation: 1 };
}

/** EIP-712 types of a Safe 1.4.1 transaction (what owners sign; its hash is the Safe's getTransactionHash). */
export const SAFE_TX_TYPES = {
  SafeTx: [
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'data', type: 'bytes' },
    { name: 'operation', type: 'uint8' },
    { name: 'safeTxGas', type: 'uint256' },
    { name: 'baseGas', type: 'uint256' },
    { name: 'gasPrice', type: 'uint256' },
    { name: 'gasToken', type: 'address' },
    { name: 'refundReceiver', type: 'address' },
    { name: 'nonce', type: 'uint256' },
  ],
};

/** The SafeTx message of a transaction without gas refunds (safeTxGas, baseGas, gasPrice 0: the relayer pays gas). */
export const safeTxMessage = (tx: { to: string; value: bigint; data: string; operation: number }, nonce: bigint) => ({
  to: getAddress(tx.to),
  value: tx.value,
  data: tx.data,
  operation: tx.operation,
  safeTxGas: 0n,
  baseGas: 0n,
  gasPrice: 0n,
  gasToken: ZeroAddress,
  refundReceiver: ZeroAddress,
  nonce,
});

/** EIP-712 domain of a Safe (1.4.1: chainId + verifyingContract). */
export const safeDomain = (chainId: number | bigint, safe: string) => ({ chainId: BigInt(chainId), verifyingContract: getAddress(safe) });
