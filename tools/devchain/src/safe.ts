import { createRequire } from 'node:module';
import ProtocolKit from '@safe-global/protocol-kit';
import { Contract, ZeroAddress, ZeroHash, concat, getAddress, type Signer } from 'ethers';
import { type SafeInfrastructure, SAFE_ARTIFACTS, mined, safeArtifact, safeInfrastructureAddresses, waitForReceipt } from '#chain';

/**
 * Safe{Wallet} 1.4.1 on a local chain (STACK-NOTES, "Safe"): the contracts' bytecode from
 * @safe-global/safe-contracts, deployed through the Safe singleton factory (its presigned deployment transaction),
 * each with CREATE2 salt 0, so every local chain gets the same addresses. Generic: the treasury and the ROs use it.
 */
const require = createRequire(import.meta.url);

/** Deploys the singleton factory (if missing) and the Safe 1.4.1 contracts (those missing); idempotent. */
export async function deploySafeInfrastructure(signer: Signer): Promise<SafeInfrastructure> {
  const provider = signer.provider;
  if (!provider) throw new Error('deploySafeInfrastructure: the signer needs a provider');
  const { chainId } = await provider.getNetwork();
  const factory = require(`@safe-global/safe-singleton-factory/artifacts/${chainId}/deployment.json`) as {
    gasPrice: number;
    gasLimit: number;
    signerAddress: string;
    transaction: string;
    address: string;
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
  for (const [key, path] of Object.entries(SAFE_ARTIFACTS) as [keyof SafeInfrastructure, string][]) {
    const { bytecode } = safeArtifact(key);
    if ((await provider.getCode(out[key])) === '0x')
      await mined(signer.sendTransaction({ to: factory.address, data: concat([ZeroHash, bytecode]) }));
    if ((await provider.getCode(out[key])) === '0x') throw new Error(`Safe contract ${path} was not deployed at ${out[key]}`);
  }
  return out;
}

/** protocol-kit's `contractNetworks` for one chain. */
export const contractNetworks = (chainId: number | bigint, infra: SafeInfrastructure) => ({ [chainId.toString()]: infra });

/**
 * Creates a Safe proxy with `owners` and `threshold` (and the compatibility fallback handler, as the Safe apps do);
 * `saltNonce` makes the address unique. Returns the Safe's address.
 */
export async function createSafe(
  signer: Signer,
  infra: SafeInfrastructure,
  owners: string[],
  threshold: number,
  saltNonce = BigInt(Date.now()),
): Promise<string> {
  const singleton = new Contract(infra.safeSingletonAddress, safeArtifact('safeSingletonAddress').abi as never, signer);
  const proxyFactory = new Contract(infra.safeProxyFactoryAddress, safeArtifact('safeProxyFactoryAddress').abi as never, signer);
  const initializer = singleton.interface.encodeFunctionData('setup', [
    owners.map((o) => getAddress(o)),
    threshold,
    ZeroAddress,
    '0x',
    infra.fallbackHandlerAddress,
    ZeroAddress,
    0,
    ZeroAddress,
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
export const SafeKit = ((ProtocolKit as unknown as { default?: typeof ProtocolKit.default }).default ??
  ProtocolKit) as typeof ProtocolKit.default;
