import { Module } from '@nestjs/common';
import { RoModule } from '../ro/index.js';
import { ExchangeResolver } from './exchange.resolver.js';
import { ExchangeService } from './exchange.service.js';

/** The imaging exchange (RoDirectory, StudyCustody) as the indexer projects it: directory, keys, leases, custody. */
@Module({ imports: [RoModule], providers: [ExchangeService, ExchangeResolver] })
export class ExchangeModule {}
