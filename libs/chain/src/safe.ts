import { createRequire } from 'node:module';
import ProtocolKit from '@safe-global/protocol-kit';
import { Contract, Interface, ZeroAddress, ZeroHash, concat, getAddress, getBytes, getCreate2Address, keccak256, solidityPacked, type Signer } from 'ethers';
import { mined, waitForReceipt } from './receipts.js';

/**
 * Safe{Wallet} 1.4.1 on a local chain (STACK-NOTES, "Safe"): the contracts' bytecode from
 * @safe-global/safe-contracts, deployed through the Safe singleton factory (its presigned deployment transaction),
 * each with CREATE2 salt 0, so every local chain gets the same addresses. Generic: the treasury and the ROs use it.
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

const ARTIFACTS: Record<keyof SafeInfrastructure, string> = {
  safeSingletonAddress: 'SafeL2.sol/SafeL2.json',
  safeProxyFactoryAddress: 'proxies/SafeProxyFactory.sol/SafeProxyFactory.json',
  multiSendAddress: 'libraries/MultiSend.sol/MultiSend.json',
  multiSendCallOnlyAddress: 'libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json',
  fallbackHandlerAddress: 'handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
  signMessageLibAddress: 'libraries/SignMessageLib.sol/SignMessageLib.json',
  createCallAddress: 'libraries/CreateCall.sol/CreateCall.json',
  simulateTxAccessorAddress: 'accessors/SimulateTxAccessor.sol/SimulateTxAccessor.json',
};
const artifact = (path: string): { abi: unknown[]; bytecode: string } => require(`@safe-global/safe-contracts/build/artifacts/contracts/${path}`);

/** Deploys the singleton factory (if missing) and the Safe 1.4.1 contracts (those missing); idempotent. */
export async function deploySafeInfrastructure(signer: Signer): Promise<SafeInfrastructure> {
  const provider = signer.provider;
  if (!provider) throw new Error('deploySafeInfrastructure: the signer needs a provider');
  const { chainId } = await provider.getNetwork();
  const factory = require(`@safe-global/safe-singleton-factory/artifacts/${chainId}/deployment.json`) as {
    gasPrice: number; gasLimit: number; signerAddress: string; transaction: string; address: string;
  };
  if ((await provider.getCode(factory.address)) === '0x') {
    const cost = BigInt(factory.gasPrice) * BigInt(factory.gasLimit);
    const balance = await provider.getBalance(factory.signerAddress);
    if (balance < cost) await mined(signer.sendTransaction({ to: factory.signerAddress, value: cost - balance }));
    const sent = await provider.broadcastTransaction(factory.transaction);
    const receipt = await waitForReceipt(provider, sent.hash);
    if (!receipt || receipt.status !== 1) throw new Error('the Safe singleton factory deployment failed');
  }
  const out = safeInfrastructureAddresses(chainId);
  for (const [key, path] of Object.entries(ARTIFACTS) as [keyof SafeInfrastructure, string][]) {
    const { bytecode } = artifact(path);
    if ((await provider.getCode(out[key])) === '0x') await mined(signer.sendTransaction({ to: factory.address, data: concat([ZeroHash, bytecode]) }));
    if ((await provider.getCode(out[key])) === '0x') throw new Error(`Safe contract ${path} was not deployed at ${out[key]}`);
  }
  return out;
}

/** Where {@link deploySafeInfrastructure} puts (or has put) the Safe 1.4.1 contracts on chain `chainId` (CREATE2). */
export function safeInfrastructureAddresses(chainId: number | bigint): SafeInfrastructure {
  const factory = require(`@safe-global/safe-singleton-factory/artifacts/${chainId}/deployment.json`) as { address: string };
  const out = {} as SafeInfrastructure;
  for (const [key, path] of Object.entries(ARTIFACTS) as [keyof SafeInfrastructure, string][]) {
    out[key] = getCreate2Address(factory.address, ZeroHash, keccak256(artifact(path).bytecode));
  }
  return out;
}

/** protocol-kit's `contractNetworks` for one chain. */
export const contractNetworks = (chainId: number | bigint, infra: SafeInfrastructure) => ({ [chainId.toString()]: infra });

/**
 * Creates a Safe proxy with `owners` and `threshold` (and the compatibility fallback handler, as the Safe apps do);
 * `saltNonce` makes the address unique. Returns the Safe's address.
 */
export async function createSafe(signer: Signer, infra: SafeInfrastructure, owners: string[], threshold: number, saltNonce = BigInt(Date.now())): Promise<string> {
  const singleton = new Contract(infra.safeSingletonAddress, artifact(ARTIFACTS.safeSingletonAddress).abi as never, signer);
  const proxyFactory = new Contract(infra.safeProxyFactoryAddress, artifact(ARTIFACTS.safeProxyFactoryAddress).abi as never, signer);
  const initializer = singleton.interface.encodeFunctionData('setup', [
    owners.map((o) => getAddress(o)), threshold, ZeroAddress, '0x', infra.fallbackHandlerAddress, ZeroAddress, 0, ZeroAddress,
  ]);
  const receipt = await mined(proxyFactory.createProxyWithNonce(infra.safeSingletonAddress, initializer, saltNonce));
  for (const log of receipt.logs) {
    const parsed = log.address.toLowerCase() === infra.safeProxyFactoryAddress.toLowerCase() ? proxyFactory.interface.parseLog(log) : null;
    if (parsed?.name === 'ProxyCreation') return getAddress(String(parsed.args.proxy));
  }
  throw new Error('createSafe: no ProxyCreation event');
}

/**
 * protocol-kit's `Safe` class. Its type declarations are CommonJS-shaped (the class is `default` of the module)
 * while Node's ESM import yields the class itself: take whichever is there.
 */
export const SafeKit = ((ProtocolKit as unknown as { default?: typeof ProtocolKit.default }).default ?? ProtocolKit) as typeof ProtocolKit.default;

/** The Safe ABI (1.4.1, L2 singleton), e.g. for reading nonce / owners / threshold with ethers. */
export const safeAbi = () => artifact(ARTIFACTS.safeSingletonAddress).abi as never;

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
  const packed = concat(calls.map((c) => solidityPacked(['uint8', 'address', 'uint256', 'uint256', 'bytes'], [0, c.to, c.value, getBytes(c.data).length, c.data])));
  const data = new Interface(artifact(ARTIFACTS.multiSendCallOnlyAddress).abi as never).encodeFunctionData('multiSend', [packed]);
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
  to: getAddress(tx.to), value: tx.value, data: tx.data, operation: tx.operation,
  safeTxGas: 0n, baseGas: 0n, gasPrice: 0n, gasToken: ZeroAddress, refundReceiver: ZeroAddress, nonce,
});

/** EIP-712 domain of a Safe (1.4.1: chainId + verifyingContract). */
export const safeDomain = (chainId: number | bigint, safe: string) => ({ chainId: BigInt(chainId), verifyingContract: getAddress(safe) });
