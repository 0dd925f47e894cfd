import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig, runChecks } from '#config';
import { ChainService } from '../chain/index.js';

/**
 * Liveness and readiness, as a Kubernetes probe or a load balancer reads them (docs/operations.md):
 * - `GET /health`: the process answers HTTP. Dependencies are not checked: restarting the API does not bring
 *   Postgres or the chain node back.
 * - `GET /ready`: Postgres and the chain node each answer within the dependency deadline; 503 otherwise, so traffic
 *   goes to an instance that can serve it.
 */
@Controller()
export class HealthController {
  constructor(
    private readonly db: DataSource,
    private readonly chain: ChainService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('health')
  health() {
    return { ok: true };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) res: Response) {
    const report = await runChecks(
      {
        postgres: () => this.db.query('SELECT 1'),
        chain: () => this.chain.provider.getBlockNumber(),
      },
      this.config.dependencyTimeoutMs,
    );
    if (!report.ok) res.status(HttpStatus.SERVICE_UNAVAILABLE);
    return report;
  }
}
