import { type Queryable, queryRows, sql } from './sql.js';

/**
 * How long Postgres keeps a session-level advisory lock (the indexer's writer lock, each sending key's lock) after its
 * holder's host vanished without closing the connection (a crash of the machine, a network partition). A killed
 * process is seen at once (its kernel closes the socket); a vanished host is not: by default the server would notice
 * only after the operating system's keepalive (2 h). On the lock's own connection the server probes after
 * `idle` s of silence, every `interval` s, `count` times, and gives up unacknowledged data after `userTimeout`: the
 * session ends, and with it the lock, within about 10 s, so a standby takes over within the bound docs/operations.md
 * promises. (Ignored over a Unix socket, where no host can vanish.)
 */
export const LOCK_SESSION_KEEPALIVE = { idleSeconds: 3, intervalSeconds: 2, count: 3, userTimeoutMs: 9_000 } as const;

/** Sets LOCK_SESSION_KEEPALIVE on the connection that is about to take (or holds) a session-level lock. */
export async function armLockSession(connection: Queryable): Promise<void> {
  const k = LOCK_SESSION_KEEPALIVE;
  await queryRows(
    connection,
    sql`SELECT set_config('tcp_keepalives_idle', ${String(k.idleSeconds)}, false), set_config('tcp_keepalives_interval', ${String(k.intervalSeconds)}, false),
               set_config('tcp_keepalives_count', ${String(k.count)}, false), set_config('tcp_user_timeout', ${String(k.userTimeoutMs)}, false)`,
  );
}
