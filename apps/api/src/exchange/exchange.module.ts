import { Module } from '@nestjs/common';
import { ChainModule } from '../chain/index.js';
import { RoModule } from '../ro/index.js';
import { ExchangeResolver } from './exchange.resolver.js';
import { ExchangeService } from './exchange.service.js';

/**
 * The imaging exchange (RoDirectory, StudyCustody): the indexed directory, keys, leases and custody; the lease
 * packages requesters fetch (logged); StudyCustody calls prepared for RO wallets.
 */
@Module({ imports: [RoModule, ChainModule], providers: [ExchangeService, ExchangeResolver] })
export class ExchangeModule {}
