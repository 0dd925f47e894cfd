import { FetchRequest, JsonRpcProvider, type JsonRpcApiProviderOptions } from 'ethers';

/**
 * The ethers provider every service and tool uses (STACK-NOTES): no response cache (stale block numbers
 * otherwise), no batching, and a static network (no eth_chainId before every request). The apps give every
 * request a deadline (`timeoutMs`, their dependencyTimeoutMs; ethers' own is 300 s, so a paused node would hold a
 * caller for minutes): a node that does not answer fails the call with ethers' TIMEOUT, which classifyChainError
 * reads as UNAVAILABLE.
 */
export function createProvider(rpcUrl: string, options: JsonRpcApiProviderOptions & { timeoutMs?: number } = {}): JsonRpcProvider {
  const { timeoutMs, ...providerOptions } = options;
  const request = new FetchRequest(rpcUrl);
  if (timeoutMs !== undefined) request.timeout = timeoutMs;
  return new JsonRpcProvider(request, undefined, {
    cacheTimeout: -1,
    batchMaxCount: 1,
    staticNetwork: true,
    pollingInterval: 250,
    ...providerOptions,
  });
}
