import { Module } from '@nestjs/common';
import { RateLimitService } from './rate-limit.service.js';
import { WsFrameLimit } from './ws-frame-limit.js';

/**
 * Rate limits per account and per client address, and the graphql-ws frame limit (the query limits are a validation
 * rule: see ApiModule).
 */
@Module({ providers: [RateLimitService, WsFrameLimit], exports: [RateLimitService] })
export class LimitsModule {}
