import pg from 'pg';
import { AUTH_CHANGED } from './auth.repository.js';

/** How long connecting and LISTEN may take, and how long to wait before listening again after a lost connection. */
const LISTEN_TIMEOUT_MS = 5_000;
const RELISTEN_AFTER_MS = 2_000;

export interface AuthChangeHandlers {
  /** one notification: `session:<token hash>` or `roles` */
  change(payload: string): void;
  /**
   * notifications may have been missed: the connection was lost, or (again) listening from now on. Whatever was
   * cached before may be stale and must be forgotten.
   */
  reset(): void;
  warn(message: string): void;
}

/**
 * LISTENs on AUTH_CHANGED over a connection of its own, for the API's session and role cache. Unlike the outbox's
 * listener (a latency shortcut only) the cache's correctness rests on it: the cache may be used only while
 * `listening`, and every change of that state resets it. A lost connection is logged through `warn` and listened
 * again after RELISTEN_AFTER_MS; connecting is bounded, so a hung Postgres cannot hold up the API's start.
 */
export class AuthChangeListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly on: AuthChangeHandlers,
  ) {}

  /** true while notifications are being received */
  get listening(): boolean {
    return this.client !== null;
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      connectionTimeoutMillis: LISTEN_TIMEOUT_MS,
      query_timeout: LISTEN_TIMEOUT_MS,
      keepAlive: true,
      application_name: 'openread-api-auth-listener',
    });
    client.on('notification', (n) => {
      if (n.channel === AUTH_CHANGED && this.client === client) this.on.change(n.payload ?? '');
    });
    client.on('error', (e) => {
      if (this.stopped) return;
      this.on.warn(`session and role changes no longer notified (${e.message.split('\n')[0]}): not caching until they are back`);
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${AUTH_CHANGED}`);
      if (this.stopped) return void (await client.end().catch(() => undefined));
      this.client = client;
      this.on.reset();
    } catch (e) {
      this.on.warn(`session and role changes not notified (${(e as Error).message.split('\n')[0]}): not caching until they are`);
      await client.end().catch(() => undefined);
      this.again();
    }
  }

  private lost(client: pg.Client): void {
    if (this.client === client) {
      this.client = null;
      this.on.reset();
    }
    void client.end().catch(() => undefined);
    this.again();
  }

  private again(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.start();
    }, RELISTEN_AFTER_MS);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const client = this.client;
    this.client = null;
    this.on.reset();
    await client?.end().catch(() => undefined);
  }
}
