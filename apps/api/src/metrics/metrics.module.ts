import { Module } from '@nestjs/common';
import { GraphqlMetricsPlugin } from './graphql-metrics.plugin.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsRegistry } from './metrics.registry.js';

/** `GET /metrics` for Prometheus: GraphQL operations, the database pool, the process. */
@Module({
  controllers: [MetricsController],
  providers: [MetricsRegistry, GraphqlMetricsPlugin],
  exports: [MetricsRegistry],
})
export class MetricsModule {}
