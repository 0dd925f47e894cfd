import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { catchError, type Observable } from 'rxjs';
import { classifyChainError } from '#chain';
import { chainError, chainUnavailable } from './chain-errors.js';
import { databaseUnavailable, OpenReadError } from './errors.js';

/**
 * A dependency's failure that a resolver did not map itself becomes its typed answer here, before Nest's
 * exception filter sees it: an unmapped error is logged with its stack once per request (a flood during an
 * outage) and shown as INTERNAL. ethers' errors (they carry `shortMessage`) are the chain node's: unreachable is
 * CHAIN_UNAVAILABLE, a revert or a refusal its typed code and sentence (chainError; the node's words only in the
 * log); the rest are checked against Postgres' ways of being unavailable. Anything else passes through unchanged.
 */
export function dependencyUnavailable(error: unknown): OpenReadError | null {
  if (error instanceof OpenReadError) return null;
  if (typeof (error as { shortMessage?: unknown })?.shortMessage === 'string')
    return classifyChainError(error).kind === 'UNAVAILABLE' ? chainUnavailable() : chainError(error);
  return databaseUnavailable(error);
}

@Injectable()
export class UnavailableInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((e: unknown) => {
        throw dependencyUnavailable(e) ?? e;
      }),
    );
  }
}
