import { CHAIN_UNAVAILABLE_MESSAGE, CONTRACT_ERROR_CODES, classifyChainError } from '#chain';
import { ErrorCode, OpenReadError } from './errors.js';

// the contract-error table's codes are API codes (a compile error here if one is not)
const _closed: readonly ErrorCode[] = CONTRACT_ERROR_CODES;
void _closed;

/**
 * A thrown chain error as the client sees it, through libs/chain's contract-error table: a revert becomes its
 * table code and sentence (the error's name in extensions.reason), a node's refusal a CONFLICT, no answer
 * CHAIN_UNAVAILABLE. OpenReadErrors pass through.
 */
export function chainError(error: unknown): OpenReadError {
  if (error instanceof OpenReadError) return error;
  const f = classifyChainError(error);
  switch (f.kind) {
    case 'REVERTED':
      return new OpenReadError(f.code, f.message, f.reason ? { reason: f.reason } : {});
    case 'REFUSED':
      return new OpenReadError('CONFLICT', f.message);
    case 'UNAVAILABLE':
      return new OpenReadError('CHAIN_UNAVAILABLE', f.message);
  }
}

/** Runs a chain call; whatever it throws becomes chainError's answer. */
export async function onChain<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw chainError(e);
  }
}

/** The node could not be reached or read. */
export function chainUnavailable(message = CHAIN_UNAVAILABLE_MESSAGE): OpenReadError {
  return new OpenReadError('CHAIN_UNAVAILABLE', message);
}
