import { IntrinsicException, Logger } from '@nestjs/common';
import { GraphQLFormattedError } from 'graphql';

/** The closed set of error codes a client can see in `errors[].extensions.code`. */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_ELIGIBLE',
  'ALREADY_CLAIMED',
  'NOT_FOUND',
  'BAD_INPUT',
  'LEASE_EXPIRED',
  'CONFLICT',
  'CHAIN_UNAVAILABLE',
  'RATE_LIMITED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The one domain exception. Its message is shown to the client: never put PHI or secrets in it.
 * An IntrinsicException, so Nest does not log it as a crash: it is an answer, not a failure.
 */
export class OpenReadError extends IntrinsicException {
  override readonly name = 'OpenReadError';
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** graphql-js wraps resolver errors (possibly from another copy of the graphql module): find ours. */
function unwrap(error: unknown): unknown {
  let e = error as { originalError?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (e instanceof OpenReadError) return e;
    if (!e.originalError) break;
    e = e.originalError as typeof e;
  }
  return e;
}

const logger = new Logger('GraphQL');

/**
 * Apollo's formatError: domain errors pass through; GraphQL validation, parse and operation-resolution errors (the
 * client's malformed request) become BAD_INPUT;
 * anything else is logged server-side and shown as INTERNAL without message or stack.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrap(error);
  if (original instanceof OpenReadError) {
    return {
      message: original.message,
      path: formatted.path,
      locations: formatted.locations,
      extensions: { ...original.details, code: original.code },
    };
  }
  const apolloCode = formatted.extensions?.code;
  if (
    apolloCode === 'GRAPHQL_VALIDATION_FAILED' ||
    apolloCode === 'GRAPHQL_PARSE_FAILED' ||
    apolloCode === 'BAD_USER_INPUT' ||
    apolloCode === 'BAD_REQUEST' ||
    // an operationName the document does not define, or a document with several operations and none named
    apolloCode === 'OPERATION_RESOLUTION_FAILURE'
  ) {
    // query limits (limits/query-limits.ts) say why in extensions.reason
    const reason = formatted.extensions?.reason;
    return {
      message: formatted.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'BAD_INPUT', ...(typeof reason === 'string' ? { reason } : {}) },
    };
  }
  logger.error(`unexpected error at ${formatted.path?.join('.') ?? '(request)'}: ${(original as Error)?.stack ?? String(original)}`);
  return { message: 'Internal error', path: formatted.path, extensions: { code: 'INTERNAL' } };
}
