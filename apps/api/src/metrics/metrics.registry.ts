import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DataSource } from 'typeorm';

/** The pg pool behind TypeORM's Postgres driver (its counters are what node-postgres exposes). */
interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options?: { max?: number };
}

/** Distinct operation names kept as labels; more are counted as `other` (clients choose the names). */
const MAX_OPERATION_NAMES = 200;

/**
 * The API's Prometheus registry (one per app instance, so several APIs in one test process do not collide): process
 * metrics, GraphQL requests/latency/errors per operation (GraphqlMetricsPlugin) and the database pool.
 */
@Injectable()
export class MetricsRegistry {
  readonly registry = new Registry();
  private readonly names = new Set<string>();

  readonly requests = new Counter({
    name: 'openread_graphql_requests_total',
    help: 'GraphQL operations answered, by operation name and type',
    labelNames: ['operation', 'type'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'openread_graphql_errors_total',
    help: 'GraphQL errors answered, by operation name and error code (BAD_INPUT, CHAIN_UNAVAILABLE, …)',
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'openread_graphql_request_duration_seconds',
    help: 'time from receiving a GraphQL operation to its response, seconds',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });

  readonly uploadRequests = new Counter({
    name: 'openread_storage_upload_requests_total',
    help: 'requests to the resumable chunk uploads (tus), by method (POST creates, HEAD asks the offset, PATCH sends bytes)',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly uploadBytes = new Counter({
    name: 'openread_storage_upload_bytes_total',
    help: 'chunk bytes the uploads accepted (what PATCH requests added, a cut request included), bytes',
    registers: [this.registry],
  });
  readonly chunksStored = new Counter({
    name: 'openread_storage_chunks_total',
    help: 'finished chunk uploads: stored in the blob store, or refused (the bytes did not hash to their address)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(dataSource: DataSource) {
    collectDefaultMetrics({ register: this.registry, prefix: 'openread_api_' });
    const pool = () => (dataSource.driver as unknown as { master?: PgPool }).master;
    new Gauge({
      name: 'openread_db_pool_connections',
      help: "the API's Postgres pool: connections by state (total, idle, waiting = requests queued for one), and its max",
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const p = pool();
        if (!p) return;
        this.set({ state: 'total' }, p.totalCount);
        this.set({ state: 'idle' }, p.idleCount);
        this.set({ state: 'waiting' }, p.waitingCount);
        if (p.options?.max !== undefined) this.set({ state: 'max' }, p.options.max);
      },
    });
  }

  /** The operation label: its name when it is a plain identifier, `anonymous`, or `other` past the limit. */
  operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (!/^[A-Za-z_]\w{0,63}$/.test(name)) return 'other';
    if (this.names.has(name)) return name;
    if (this.names.size >= MAX_OPERATION_NAMES) return 'other';
    this.names.add(name);
    return name;
  }
}
