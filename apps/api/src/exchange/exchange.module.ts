import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/index.js';
import { ChainModule } from '../chain/index.js';
import { RoModule } from '../ro/index.js';
import { AccessAlertFeed } from './access-alerts.feed.js';
import { ExchangeAlertsResolver } from './exchange-alerts.resolver.js';
import { ExchangeAlertsService } from './exchange-alerts.service.js';
import { ExchangeResolver } from './exchange.resolver.js';
import { ExchangeService } from './exchange.service.js';

/**
 * The imaging exchange (RoDirectory, StudyCustody): the indexed directory, keys, leases and custody; the lease
 * packages requesters fetch (logged); StudyCustody calls prepared for RO wallets; misuse reports, notifications and
 * live access alerts for custodians.
 */
@Module({
  imports: [RoModule, ChainModule, AuthModule],
  providers: [ExchangeService, ExchangeResolver, ExchangeAlertsService, ExchangeAlertsResolver, AccessAlertFeed],
})
export class ExchangeModule {}
