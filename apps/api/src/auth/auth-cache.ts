import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { AuthChangeListener } from '#db';
import type { AuthUser, Role } from '../common/access.js';

/** most sessions and most accounts' roles kept (each entry ≈ 200 bytes); past it the oldest are forgotten */
const MAX_ENTRIES = 50_000;

interface Entry<T> {
  value: T;
  /** Date.now() after which the entry is not used */
  until: number;
}

/**
 * What the guard learns about a request's caller, kept in this process for API_AUTH_CACHE_MS so that a client's
 * next requests skip the session and role queries (2 of the ≈ 5 round trips to Postgres of the cheapest signed-in
 * request; see docs/benchmarks.md, "Request floor").
 *
 * Why it cannot let a revoked session or role through for long, with several API instances:
 * - every instance LISTENs on AUTH_CHANGED; logout notifies the session's token hash, and triggers on the tables
 *   roles are read from (credentials, contract_roles, ro_members, dao_votes) notify `roles` on any change, so a
 *   revocation reaches every instance as its transaction commits;
 * - the cache is used only while that connection listens; losing it, or listening again, forgets everything;
 * - `epoch` counts notifications: a lookup that started before a notification is not cached when it ends (it may
 *   have read the row just before the change);
 * - an entry never outlives its session's expiry, nor API_AUTH_CACHE_MS (what no notification covers: rows
 *   changed by hand, the treasury Safe's owners read from the chain);
 * - only successful lookups are kept, and callers use an entry only to let a request through: made-up tokens
 *   cost no memory, and a grant (a new role) is seen at once.
 */
@Injectable()
export class AuthCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(AuthCache.name);
  private readonly sessions = new Map<string, Entry<AuthUser>>();
  private readonly roles = new Map<string, Entry<ReadonlySet<Role>>>();
  private readonly listener: AuthChangeListener;
  private readonly ttlMs: number;
  /** notifications (and resets) seen so far: see the class comment */
  private epochs = 0;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.ttlMs = config.api.authCacheMs;
    this.listener = new AuthChangeListener(config.databaseUrl, {
      change: (payload) => {
        this.epochs++;
        if (payload === 'roles') this.roles.clear();
        else if (payload.startsWith('session:')) this.sessions.delete(payload.slice('session:'.length));
        else this.reset();
      },
      reset: () => this.reset(),
      warn: (m) => this.logger.warn(m),
    });
  }

  async onModuleInit(): Promise<void> {
    if (this.ttlMs > 0) await this.listener.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.listener.stop();
  }

  /** Whether entries may be used and stored now. */
  get enabled(): boolean {
    return this.ttlMs > 0 && this.listener.listening;
  }

  /** Taken before a lookup, handed to put…(): a change notified meanwhile keeps the result out of the cache. */
  get epoch(): number {
    return this.epochs;
  }

  session(tokenHash: string): AuthUser | null {
    return this.get(this.sessions, tokenHash);
  }

  putSession(tokenHash: string, user: AuthUser, expiresAt: Date, epoch: number): void {
    this.put(this.sessions, tokenHash, user, epoch, expiresAt.getTime());
  }

  /** This process's own logout: forgotten at once, whatever the notification does. */
  forgetSession(tokenHash: string): void {
    this.epochs++;
    this.sessions.delete(tokenHash);
  }

  rolesOf(address: string): ReadonlySet<Role> | null {
    return this.get(this.roles, address);
  }

  putRoles(address: string, roles: ReadonlySet<Role>, epoch: number): void {
    this.put(this.roles, address, roles, epoch);
  }

  private get<T>(map: Map<string, Entry<T>>, key: string): T | null {
    if (!this.enabled) return null;
    const e = map.get(key);
    if (!e) return null;
    if (Date.now() >= e.until) {
      map.delete(key);
      return null;
    }
    return e.value;
  }

  private put<T>(map: Map<string, Entry<T>>, key: string, value: T, epoch: number, expiresAt = Infinity): void {
    if (!this.enabled || epoch !== this.epochs) return;
    map.delete(key);
    if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value!);
    map.set(key, { value, until: Math.min(Date.now() + this.ttlMs, expiresAt) });
  }

  private reset(): void {
    this.epochs++;
    this.sessions.clear();
    this.roles.clear();
  }
}
