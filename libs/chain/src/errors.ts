import { ErrorFragment, Interface, isHexString } from 'ethers';
import { CONTRACT_NAMES, loadArtifact } from './artifacts.js';

export interface DecodedContractError {
  name: string;
  args: unknown[];
}

/** Error(string) and Panic(uint256): every Interface decodes these. */
const BUILTIN_SELECTORS = new Set(['0x08c379a0', '0x4e487b71']);

let interfaces: Interface[] | undefined;
let bySelector: Map<string, { iface: Interface; fragment: ErrorFragment }[]> | undefined;

function allInterfaces(): Interface[] {
  interfaces ??= Object.values(CONTRACT_NAMES).map((name) => new Interface(loadArtifact(name).abi));
  return interfaces;
}

/**
 * The custom errors of all contracts by selector, computed once. (ethers' `Interface.parseError` recomputes the
 * keccak selector of every error of the ABI on each call: ~1 ms per decode across all ABIs, and every lost claim
 * race decodes one.)
 */
function errorsBySelector(): Map<string, { iface: Interface; fragment: ErrorFragment }[]> {
  if (!bySelector) {
    const map = new Map<string, { iface: Interface; fragment: ErrorFragment }[]>();
    for (const iface of allInterfaces())
      iface.forEachError((fragment) => {
        const list = map.get(fragment.selector) ?? [];
        list.push({ iface, fragment });
        map.set(fragment.selector, list);
      });
    bySelector = map;
  }
  return bySelector;
}

/**
 * Decodes revert data against the custom errors of all OpenRead contracts (including inherited OpenZeppelin
 * errors) and the built-in Error(string) / Panic(uint256). Returns null when nothing matches.
 */
export function decodeContractError(data: string): DecodedContractError | null {
  if (!isHexString(data) || data.length < 10) return null;
  const selector = data.slice(0, 10).toLowerCase();
  if (BUILTIN_SELECTORS.has(selector)) {
    try {
      const parsed = allInterfaces()[0].parseError(data);
      if (parsed) return { name: parsed.name, args: [...parsed.args] };
    } catch {
      return null;
    }
  }
  for (const { iface, fragment } of errorsBySelector().get(selector) ?? []) {
    try {
      return { name: fragment.name, args: [...iface.decodeErrorResult(fragment, data)] };
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
