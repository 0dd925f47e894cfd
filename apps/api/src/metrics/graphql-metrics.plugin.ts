import { Plugin } from '@nestjs/apollo';
import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { MetricsRegistry } from './metrics.registry.js';

/**
 * Counts every GraphQL operation over HTTP (found by @nestjs/apollo through @Plugin): requests and latency by
 * operation name and type, errors by operation and code. An operation that does not parse or validate counts as
 * `invalid`.
 */
@Plugin()
export class GraphqlMetricsPlugin implements ApolloServerPlugin {
  constructor(private readonly metrics: MetricsRegistry) {}

  async requestDidStart(): Promise<GraphQLRequestListener<Record<string, unknown>>> {
    const started = process.hrtime.bigint();
    const metrics = this.metrics;
    return {
      async willSendResponse({ operation, operationName, response }) {
        const label = operation ? metrics.operationLabel(operation.name?.value ?? operationName) : 'invalid';
        const type = operation?.operation ?? 'unknown';
        metrics.requests.inc({ operation: label, type });
        metrics.duration.observe({ operation: label, type }, Number(process.hrtime.bigint() - started) / 1e9);
        // the errors as the client gets them (after formatError: the closed API codes)
        const sent = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
        for (const e of sent ?? []) {
          const code = typeof e.extensions?.code === 'string' ? e.extensions.code : 'UNKNOWN';
          metrics.errors.inc({ operation: label, code });
        }
      },
    };
  }
}
