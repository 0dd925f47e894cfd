import { Module } from '@nestjs/common';
import { PruneService } from './prune.service.js';
import { RateLimitService } from './rate-limit.service.js';

/** Rate limits per account and per client address (the query limits are a validation rule: see ApiModule). */
@Module({ providers: [RateLimitService, PruneService], exports: [RateLimitService] })
export class LimitsModule {}
