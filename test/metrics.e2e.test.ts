import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#db/testing';
import { RelayOutboxRepository } from '#db';
import { IndexerService } from '#indexer';
import { startSettlerHealth } from '#settler';
import { type CompiledApi, startCompiledApi } from './support/compiled-api.js';
import { type Stack, startStack, waitFor } from './support/stack.js';

/** The value of one series in a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

/** The compiled API's `/metrics`, scraped before and after requests: each series moves. */
describe('Prometheus metrics of the API', () => {
  let db: { url: string; drop(): Promise<void> };
  let api: CompiledApi;
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${api.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  const graphql = (query: string, operationName?: string) =>
    fetch(`http://127.0.0.1:${api.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, operationName }),
    }).then((r) => r.json() as Promise<{ data?: unknown; errors?: { extensions?: { code?: string } }[] }>);

  beforeAll(async () => {
    db = await createTestDatabase();
    api = await startCompiledApi(db.url);
  }, 90_000);

  afterAll(async () => {
    if (api && api.process.exitCode === null) api.process.kill('SIGKILL');
    await db?.drop();
  });

  it('counts GraphQL operations, their latency and errors per operation, and shows the database pool', async () => {
    const before = await scrape();
    expect(sample(before, 'openread_graphql_requests_total', { operation: 'SignIn' })).toBe(0);

    for (let i = 0; i < 3; i++) expect((await graphql('mutation SignIn { nonce { nonce } }')).data).toBeTruthy();
    const refused = await graphql('query Bad { nosuchfield }');
    expect(refused.errors?.[0]?.extensions?.code).toBeTruthy();

    const after = await scrape();
    expect(sample(after, 'openread_graphql_requests_total', { operation: 'SignIn', type: 'mutation' })).toBe(3);
    expect(sample(after, 'openread_graphql_request_duration_seconds_count', { operation: 'SignIn', type: 'mutation' })).toBe(3);
    expect(sample(after, 'openread_graphql_request_duration_seconds_sum', { operation: 'SignIn', type: 'mutation' })).toBeGreaterThan(0);
    // a query that does not validate has no operation to name
    expect(sample(after, 'openread_graphql_requests_total', { operation: 'invalid' })).toBe(1);
    expect(sample(after, 'openread_graphql_errors_total', { operation: 'invalid', code: refused.errors![0].extensions!.code! })).toBe(1);
    // the nonces were stored: the pool has opened connections, and says its limit
    expect(sample(after, 'openread_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
    expect(sample(after, 'openread_db_pool_connections', { state: 'max' })).toBeGreaterThan(0);
    expect(sample(after, 'openread_api_process_cpu_user_seconds_total')).toBeGreaterThan(0);
  }, 60_000);
});

/** The indexer's `/metrics` beside its `/health`: head, indexed block and lag follow the chain. */
describe('Prometheus metrics of the indexer', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('shows the chain head and the indexed block moving as blocks are mined', async () => {
    const url = `${stack.indexer.get(IndexerService).healthUrl}/metrics`;
    const scrape = async () => {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const before = await waitFor('the indexer live', async () => {
      const text = await scrape();
      return sample(text, 'openread_indexer_indexed_block') > 0 && text;
    });
    const head = sample(before, 'openread_indexer_chain_head_block');
    expect(sample(before, 'openread_indexer_writer')).toBe(1);
    expect(sample(before, 'openread_indexer_halted')).toBe(0);
    for (let i = 0; i < 3; i++) await stack.provider.send('evm_mine', []);
    const after = await waitFor('the mined blocks indexed', async () => {
      const text = await scrape();
      return sample(text, 'openread_indexer_indexed_block') >= head + 3 && text;
    });
    expect(sample(after, 'openread_indexer_chain_head_block')).toBeGreaterThanOrEqual(head + 3);
    expect(sample(after, 'openread_indexer_lag_blocks')).toBe(0);
    expect(after).toContain('# TYPE openread_indexer_events_per_second gauge');
    expect(after).toContain('# TYPE openread_indexer_reorgs_total counter');
  }, 60_000);
});

/**
 * The worker's `/metrics` beside its `/health`: a row queued for a key no sender holds stays QUEUED, so the outbox
 * depth and oldest age move by it and back when it is settled; each sending key's nonce series and the spend limit show.
 */
describe('Prometheus metrics of the worker', () => {
  let stack: Stack;
  let health: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    stack = await startStack();
    health = await startSettlerHealth(stack.settler, { ...stack.config, settler: { ...stack.config.settler, healthPort: 0 } });
  }, 120_000);
  afterAll(async () => {
    await health?.close();
    await stack?.stop();
  });

  it('shows the outbox depth per purpose and status move, the sending keys and the gasless spend limit', async () => {
    const scrape = async () => {
      const res = await fetch(`${health.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const queued = { purpose: 'treasury', status: 'QUEUED' };
    const before = await scrape();
    expect(sample(before, 'openread_settler_outbox_up')).toBe(1);
    expect(before).toContain('openread_settler_outbox_depth{purpose="treasury",status="QUEUED"} 0');
    expect(sample(before, 'openread_settler_gasless_signer_limit_wei')).toBe(Number(stack.config.relay.spendLimitWei));
    const senders = [...before.matchAll(/^openread_settler_sender_in_flight\{sender="(0x[0-9a-f]{40})"\}/gm)].map((m) => m[1]);
    expect(senders.length).toBeGreaterThan(0);
    expect(before).toContain('# TYPE openread_settler_gasless_spend_wei gauge');

    const outbox = stack.settler.get(RelayOutboxRepository);
    const { row } = await outbox.enqueueCall({
      chainId: stack.config.chainId,
      purpose: 'treasury',
      sender: `0x${'9'.repeat(40)}`,
      target: `0x${'8'.repeat(40)}`,
      function: 'noop()',
      data: '0x',
    });
    await new Promise((r) => setTimeout(r, 1100));
    const during = await scrape();
    expect(sample(during, 'openread_settler_outbox_depth', queued)).toBe(1);
    expect(sample(during, 'openread_settler_outbox_oldest_age_seconds', queued)).toBeGreaterThanOrEqual(1);

    await outbox.failed(row.id, 'TEST', 'settled by the test');
    const after = await scrape();
    expect(sample(after, 'openread_settler_outbox_depth', queued)).toBe(0);
    expect(after).not.toContain('openread_settler_outbox_oldest_age_seconds{purpose="treasury",status="QUEUED"}');
    expect(sample(after, 'openread_settler_process_cpu_user_seconds_total')).toBeGreaterThan(0);
  }, 60_000);
});
