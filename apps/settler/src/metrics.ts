import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { withDeadline } from '#config';
import type { OutboxPurpose, OutboxStats } from '#db';
import type { LaneHealth } from './sender.service.js';

const PURPOSES = ['gasless', 'governance', 'treasury', 'settlement', 'anchor', 'nonce-fill'] as const satisfies readonly OutboxPurpose[];
const LIVE = ['QUEUED', 'SENT'] as const;

/** What the worker's metrics read at scrape time. */
export interface SettlerMetricsSources {
  outbox: () => Promise<OutboxStats>;
  lanes: () => LaneHealth[];
  /** the most wei the relayer spends on one signer in the spend window (RELAY_SPEND_LIMIT_WEI) */
  spendLimitWei: bigint;
  timeoutMs: number;
}

/**
 * The worker's Prometheus registry (one per process), served at `/metrics` beside `/health` and `/ready`: the
 * transaction outbox's depth and oldest age per purpose and status, each sending key's mined nonce and how long it
 * has not moved (a stall), and the gasless spend in the spend window against the per-signer limit. The outbox is
 * read once per scrape, bounded by the dependency deadline; when Postgres does not answer,
 * `openread_settler_outbox_up` is 0 and the outbox series are absent rather than stale.
 */
export function settlerMetrics(sources: SettlerMetricsSources): { registry: Registry; render(): Promise<string> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'openread_settler_' });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });

  const up = gauge('openread_settler_outbox_up', '1 when the last scrape could read the outbox, 0 when Postgres did not answer');
  const depth = gauge('openread_settler_outbox_depth', 'outbox rows waiting (QUEUED) or in flight (SENT), by purpose', [
    'purpose',
    'status',
  ]);
  const oldest = gauge('openread_settler_outbox_oldest_age_seconds', 'age of the oldest QUEUED or SENT outbox row, by purpose, seconds', [
    'purpose',
    'status',
  ]);
  const spent = gauge('openread_settler_gasless_spend_wei', 'wei the gasless key spent in the spend window (24 h), all signers');
  const topSigner = gauge('openread_settler_gasless_top_signer_spend_wei', 'the most wei spent on one signer in the spend window (24 h)');
  const limit = gauge(
    'openread_settler_gasless_signer_limit_wei',
    'the per-signer spend limit in the spend window (RELAY_SPEND_LIMIT_WEI)',
  );
  const minedNonce = gauge('openread_settler_sender_mined_nonce', "each sending key's mined nonce count when last read", ['sender']);
  const unchanged = gauge(
    'openread_settler_sender_nonce_unchanged_seconds',
    "seconds since each sending key's mined nonce last moved (or since its sender started)",
    ['sender'],
  );
  const inFlight = gauge('openread_settler_sender_in_flight', "each sending key's transactions sent and not yet mined", ['sender']);
  const stalled = gauge(
    'openread_settler_sender_stalled',
    '1 while a key has transactions in flight and its mined nonce has not moved for longer than the stall bound',
    ['sender'],
  );
  const active = gauge(
    'openread_settler_sender_active',
    "1 while this worker holds the key's sending lock (the one sender of that key), 0 while it waits as a standby",
    ['sender'],
  );
  limit.set(Number(sources.spendLimitWei));

  async function render(): Promise<string> {
    for (const g of [depth, oldest, spent, topSigner, minedNonce, unchanged, inFlight, stalled, active]) g.reset();
    for (const lane of sources.lanes()) {
      const labels = { sender: lane.address };
      if (lane.minedNonce !== null) minedNonce.set(labels, lane.minedNonce);
      unchanged.set(labels, lane.sinceAdvanceMs / 1000);
      inFlight.set(labels, lane.inFlight);
      stalled.set(labels, lane.stalled ? 1 : 0);
      active.set(labels, lane.sending ? 1 : 0);
    }
    try {
      const stats = await withDeadline(sources.outbox(), sources.timeoutMs, 'outbox metrics');
      for (const purpose of PURPOSES) for (const status of LIVE) depth.set({ purpose, status }, 0);
      for (const row of stats.live) {
        depth.set({ purpose: row.purpose, status: row.status }, row.count);
        oldest.set({ purpose: row.purpose, status: row.status }, row.oldestSeconds);
      }
      spent.set(Number(stats.gaslessSpentWei));
      topSigner.set(Number(stats.gaslessTopSignerSpentWei));
      up.set(1);
    } catch {
      up.set(0);
    }
    return registry.metrics();
  }

  return { registry, render };
}
