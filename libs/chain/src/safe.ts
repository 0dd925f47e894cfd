import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as protocolKit from '@safe-global/protocol-kit';
import { ZeroHash, concat, getAddress, getCreate2Address, keccak256, parseEther, type JsonRpcProvider, type Signer } from 'ethers';

/**
 * Safe 1.4.1 on a local chain: the contracts at their canonical addresses (deployed through the Safe singleton
 * factory with salt 0, exactly as on public chains), so @safe-global/protocol-kit works with `contractNetworks`.
 */
const require = createRequire(import.meta.url);
const artifactsDir = () => join(dirname(require.resolve('@safe-global/safe-contracts/package.json')), 'build', 'artifacts', 'contracts');

const SAFE_CONTRACTS = {
  safeSingleton: 'Safe.sol/Safe.json',
  safeProxyFactory: 'proxies/SafeProxyFactory.sol/SafeProxyFactory.json',
  multiSend: 'libraries/MultiSend.sol/MultiSend.json',
  multiSendCallOnly: 'libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json',
  fallbackHandler: 'handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
  signMessageLib: 'libraries/SignMessageLib.sol/SignMessageLib.json',
  createCall: 'libraries/CreateCall.sol/CreateCall.json',
  simulateTxAccessor: 'accessors/SimulateTxAccessor.sol/SimulateTxAccessor.json',
} as const;
type SafeContract = keyof typeof SAFE_CONTRACTS;

export type SafeContractNetwork = { [K in SafeContract as `${K}Address`]: string };

function safeArtifact(name: SafeContract): { abi: unknown[]; bytecode: string } {
  return JSON.parse(readFileSync(join(artifactsDir(), SAFE_CONTRACTS[name]), 'utf8'));
}

/** The Safe ABI (1.4.1), e.g. for reading nonce / owners / threshold with ethers. */
export const safeAbi = () => safeArtifact('safeSingleton').abi as never;

/**
 * Deploys the singleton factory (its presigned transaction: fund the signer, send the raw tx) and the Safe 1.4.1
 * contracts through it, skipping whatever is already there. Returns the addresses for protocol-kit's
 * `contractNetworks[chainId]`. Works on anvil (or any chain that accepts pre-EIP-155 transactions).
 */
export async function deploySafeContracts(funder: Signer, provider: JsonRpcProvider): Promise<SafeContractNetwork> {
  const factory = JSON.parse(
    readFileSync(join(dirname(require.resolve('@safe-global/safe-singleton-factory/package.json')), 'artifacts', '31337', 'deployment.json'), 'utf8'),
  ) as { gasPrice: number; gasLimit: number; signerAddress: string; transaction: string; address: string };
  const factoryAddress = getAddress(factory.address);
  if ((await provider.getCode(factoryAddress)) === '0x') {
    const cost = BigInt(factory.gasPrice) * BigInt(factory.gasLimit);
    await (await funder.sendTransaction({ to: factory.signerAddress, value: cost > parseEther('0.01') ? cost : parseEther('0.01') })).wait();
    await (await provider.broadcastTransaction(factory.transaction)).wait();
  }
  const out = {} as Record<string, string>;
  for (const name of Object.keys(SAFE_CONTRACTS) as SafeContract[]) {
    const { bytecode } = safeArtifact(name);
    const address = getCreate2Address(factoryAddress, ZeroHash, keccak256(bytecode));
    if ((await provider.getCode(address)) === '0x') {
      const receipt = await (await funder.sendTransaction({ to: factoryAddress, data: concat([ZeroHash, bytecode]) })).wait();
      if (!receipt || receipt.status !== 1 || (await provider.getCode(address)) === '0x') throw new Error(`Safe ${name} was not deployed at ${address}`);
    }
    out[`${name}Address`] = address;
  }
  return out as SafeContractNetwork;
}

/**
 * protocol-kit's Safe class. Its typings are CommonJS-shaped, so under `module: nodenext` TypeScript sees the
 * default export one level deeper than Node's ESM loader provides it: take whichever exists, typed as the class.
 */
type SafeClass = (typeof protocolKit)['default']['default'];
const kitNamespace = protocolKit as unknown as { default: SafeClass & { default?: SafeClass } };
export const SafeKit: SafeClass = kitNamespace.default.default ?? kitNamespace.default;

/**
 * Deploys a Safe proxy with `owners` and `threshold` (k of n) through the local Safe contracts; `funder` sends the
 * deployment transaction. `saltNonce` makes the address unique when the same owners deploy several Safes.
 */
export async function deploySafe(
  funder: Signer,
  rpcUrl: string,
  network: SafeContractNetwork,
  owners: string[],
  threshold: number,
  saltNonce = '0',
): Promise<string> {
  const chainId = (await funder.provider!.getNetwork()).chainId;
  const kit = await SafeKit.init({
    provider: rpcUrl,
    predictedSafe: { safeAccountConfig: { owners, threshold }, safeDeploymentConfig: { saltNonce } },
    contractNetworks: { [chainId.toString()]: network },
  });
  const address = getAddress(await kit.getAddress());
  if ((await funder.provider!.getCode(address)) !== '0x') return address;
  const tx = await kit.createSafeDeploymentTransaction();
  const receipt = await (await funder.sendTransaction({ to: tx.to, data: tx.data, value: BigInt(tx.value) })).wait();
  if (!receipt || receipt.status !== 1 || (await funder.provider!.getCode(address)) === '0x') throw new Error(`the Safe was not deployed at ${address}`);
  return address;
}
