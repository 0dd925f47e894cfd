import { JsonRpcProvider, type JsonRpcApiProviderOptions } from 'ethers';

/**
 * The ethers provider every service and tool uses (STACK-NOTES): no response cache (stale block numbers
 * otherwise), no batching, and a static network (no eth_chainId before every request).
 */
export function createProvider(rpcUrl: string, options: JsonRpcApiProviderOptions = {}): JsonRpcProvider {
  return new JsonRpcProvider(rpcUrl, undefined, {
    cacheTimeout: -1,
    batchMaxCount: 1,
    staticNetwork: true,
    pollingInterval: 250,
    ...options,
  });
}
