/** A dependency did not answer in time (the caller maps it to its *_UNAVAILABLE code). */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  readonly code = 'DEADLINE_EXCEEDED';
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} did not answer within ${ms} ms`);
  }
}

/**
 * Settles with `work`, or rejects with a DeadlineError after `ms`. The work itself is not cancelled (a paused
 * peer answers late or never): use it where the client's own timeout cannot reach (a call with no timeout option).
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  // a late rejection of the abandoned work must not become an unhandled rejection
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * The socket errors of a peer that cannot be reached (Node's errno codes and undici's), for every dependency client:
 * Postgres (libs/db unavailable.ts) and the chain node (libs/chain contract-errors.ts) map them to *_UNAVAILABLE.
 */
export const NETWORK_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
