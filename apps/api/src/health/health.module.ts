import { Module } from '@nestjs/common';
import { ChainModule } from '../chain/index.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [ChainModule], controllers: [HealthController] })
export class HealthModule {}
