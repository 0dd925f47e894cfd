import { IntrinsicException, Logger } from '@nestjs/common';
import { GraphQLFormattedError } from 'graphql';
import { DeadlineError, RepeatLog } from '#config';
import { isDatabaseUnavailable } from '#db';

/** The closed set of error codes a client can see in `errors[].extensions.code`. */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_ELIGIBLE',
  'ALREADY_CLAIMED',
  'NOT_FOUND',
  'BAD_INPUT',
  'LEASE_EXPIRED',
  'LEASE_NOT_GRANTED',
  'CONFLICT',
  'CHAIN_UNAVAILABLE',
  'DATABASE_UNAVAILABLE',
  'BUS_UNAVAILABLE',
  'RATE_LIMITED',
  'INTERNAL',
  'STORAGE_UNAVAILABLE',
  'CUSTODY_REVOKED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * A dependency (the chain node, Postgres, the bus) is down or did not answer within its deadline: the same request
 * may succeed later. These carry `retryable: true`, and over HTTP a 503 with Retry-After (unavailable-plugin.ts).
 */
export const UNAVAILABLE_CODES: ReadonlySet<ErrorCode> = new Set(['CHAIN_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'BUS_UNAVAILABLE']);

/** Seconds a client is told to wait before retrying an *_UNAVAILABLE answer. */
export const RETRY_AFTER_SECONDS = 2;

export const DATABASE_UNAVAILABLE_MESSAGE = 'the database is unavailable; try again shortly';

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
/** an outage fails every request the same way: one line per kind of failure and interval, not one per request */
const outageLog = new RepeatLog({ error: (m) => logger.error(m), log: (m) => logger.log(m) });

/** Postgres could not be reached or did not answer in time (pg's, the pool's, or our deadline's error), or null. */
export function databaseUnavailable(error: unknown): OpenReadError | null {
  if (error instanceof DeadlineError || isDatabaseUnavailable(error)) {
    outageLog.error(
      `database unavailable: ${String((error as Error)?.message ?? error)
        .split('\n')[0]
        .slice(0, 200)}`,
    );
    return new OpenReadError('DATABASE_UNAVAILABLE', DATABASE_UNAVAILABLE_MESSAGE);
  }
  return null;
}

/**
 * Apollo's formatError: domain errors pass through (an *_UNAVAILABLE one marked retryable); Postgres unreachable
 * or too slow becomes DATABASE_UNAVAILABLE; GraphQL validation, parse and operation-resolution errors (the
 * client's malformed request) become BAD_INPUT;
 * anything else is logged server-side and shown as INTERNAL without message or stack.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  let original = unwrap(error);
  if (!(original instanceof OpenReadError)) original = databaseUnavailable(original) ?? original;
  if (original instanceof OpenReadError) {
    return {
      message: original.message,
      path: formatted.path,
      locations: formatted.locations,
      extensions: { ...original.details, code: original.code, ...(UNAVAILABLE_CODES.has(original.code) ? { retryable: true } : {}) },
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
