import { Module } from '@nestjs/common';
import { RateLimitService } from './rate-limit.service.js';

/** Rate limits per account and per client address (the query limits are a validation rule: see ApiModule). */
@Module({ providers: [RateLimitService], exports: [RateLimitService] })
export class LimitsModule {}
