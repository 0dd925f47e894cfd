import { Interface, isHexString } from 'ethers';
import { CONTRACT_NAMES, loadArtifact } from './artifacts.js';

export interface DecodedContractError {
  name: string;
  args: unknown[];
}

let interfaces: Interface[] | undefined;

function allInterfaces(): Interface[] {
  interfaces ??= Object.values(CONTRACT_NAMES).map((name) => new Interface(loadArtifact(name).abi));
  return interfaces;
}

/**
 * Decodes revert data against the custom errors of all OpenRead contracts (including inherited OpenZeppelin
 * errors) and the built-in Error(string) / Panic(uint256). Returns null when nothing matches.
 */
export function decodeContractError(data: string): DecodedContractError | null {
  if (!isHexString(data) || data.length < 10) return null;
  for (const iface of allInterfaces()) {
    try {
      const parsed = iface.parseError(data);
      if (parsed) return { name: parsed.name, args: [...parsed.args] };
    } catch {
      // selector matched but the data did not decode: try the next ABI
    }
  }
  return null;
}

/** Finds the revert data in an error thrown by ethers (call, estimateGas or send), if any. */
export function revertDataOf(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const visit = (e: unknown): string | undefined => {
    if (!e || typeof e !== 'object' || seen.has(e)) return undefined;
    seen.add(e);
    const o = e as Record<string, unknown>;
    if (typeof o.data === 'string' && isHexString(o.data) && o.data.length >= 10) return o.data;
    for (const key of ['data', 'error', 'info', 'cause']) {
      const found = visit(o[key]);
      if (found) return found;
    }
    return undefined;
  };
  return visit(error);
}

/** Decodes the custom error carried by an ethers error, or null. */
export function decodeThrownError(error: unknown): DecodedContractError | null {
  const data = revertDataOf(error);
  return data ? decodeContractError(data) : null;
}
