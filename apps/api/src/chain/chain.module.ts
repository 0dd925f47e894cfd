import { Module } from '@nestjs/common';
import { ChainService } from './chain.service.js';

/** The chain node and the contracts, shared by every feature that reads or prepares a transaction. */
@Module({ providers: [ChainService], exports: [ChainService] })
export class ChainModule {}
