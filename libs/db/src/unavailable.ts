import { NETWORK_ERRNOS } from '#config';
/**
 * Whether an error (or one it wraps: TypeORM's QueryFailedError keeps pg's as `driverError`) says Postgres could not
 * be reached or did not answer in time, as opposed to a query it answered with an error (a constraint, bad input).
 * The API answers these DATABASE_UNAVAILABLE (retryable) instead of INTERNAL.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const stack: unknown[] = [error];
  while (stack.length) {
    const e = stack.pop();
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const o = e as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
    if (typeof o.code === 'string' && (NETWORK_ERRNOS.has(o.code) || UNAVAILABLE_SQLSTATES.has(o.code) || o.code.startsWith('08')))
      return true;
    if (typeof o.message === 'string' && UNAVAILABLE_MESSAGES.some((re) => re.test(o.message as string))) return true;
    stack.push(o.driverError, o.cause);
    if (Array.isArray(o.errors)) stack.push(...o.errors); // AggregateError: one per address tried
  }
  return false;
}

/**
 * SQLSTATEs of a server that cannot serve now: 08xxx (connection exception, by prefix above), 57014 query_canceled
 * (our statement_timeout), 57P01-57P03 (shutting down, crash recovery, cannot connect now), 53300 too many
 * connections.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57014', '57P01', '57P02', '57P03', '53300']);

/** pg's and pg-pool's own errors carry no code */
const UNAVAILABLE_MESSAGES = [
  /^Query read timeout$/,
  /timeout exceeded when trying to connect/,
  /Connection terminated/,
  /Client has encountered a connection error and is not queryable/,
  /Client was closed and is not queryable/,
];
