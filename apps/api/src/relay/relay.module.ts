import { Module } from '@nestjs/common';
import { ChainModule } from '../chain/index.js';
import { RelayResolver } from './relay.resolver.js';
import { RelayService } from './relay.service.js';
import { TransactionOutbox } from './outbox.service.js';

/** Gasless requests (ERC-2771): preparing and submitting them, and the transaction outbox every feature queues its service-key transactions in (the worker sends them). */
@Module({ imports: [ChainModule], providers: [RelayService, RelayResolver, TransactionOutbox], exports: [RelayService, TransactionOutbox] })
export class RelayModule {}
