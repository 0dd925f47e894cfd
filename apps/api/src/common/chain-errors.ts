import { Logger } from '@nestjs/common';
import { CHAIN_UNAVAILABLE_MESSAGE, CONTRACT_ERROR_CODES, classifyChainError } from '#chain';
import { RepeatLog } from '#config';
import { ErrorCode, OpenReadError } from './errors.js';

const logger = new Logger('Chain');
/** the node's own words, once per kind and interval (a node refusing every request is one line, with a count) */
const refusalLog = new RepeatLog({ error: (m) => logger.warn(m), log: (m) => logger.log(m) });

// the contract-error table's codes are API codes (a compile error here if one is not)
const _closed: readonly ErrorCode[] = CONTRACT_ERROR_CODES;
void _closed;

/**
 * A thrown chain error as the client sees it, through libs/chain's contract-error table: a revert becomes its
 * table code and sentence (the error's name in extensions.reason), a node's refusal a CONFLICT with its closed
 * reason (NONCE_TOO_LOW, INSUFFICIENT_FUNDS, …) and sentence, no answer CHAIN_UNAVAILABLE. The node's and ethers'
 * own text never reaches the client: it is logged. OpenReadErrors pass through.
 */
export function chainError(error: unknown): OpenReadError {
  if (error instanceof OpenReadError) return error;
  const f = classifyChainError(error);
  switch (f.kind) {
    case 'REVERTED':
      return new OpenReadError(f.code, f.message, f.reason ? { reason: f.reason } : {});
    case 'REFUSED':
      refusalLog.error(`the chain node refused a request (${f.reason}): ${f.detail}`);
      return new OpenReadError('CONFLICT', f.message, { reason: f.reason });
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
