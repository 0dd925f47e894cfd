import { Module } from '@nestjs/common';
import { IndexerStatusModule } from '../indexer/index.js';
import { RoModule } from '../ro/index.js';
import { BillingResolver } from './billing.resolver.js';
import { BillingService } from './billing.service.js';
import { LedgerResolver } from './ledger.resolver.js';
import { ReconciliationService } from './reconciliation.service.js';

/** An RO's ledger (indexed), its reconciliation against the chain, statements and CSV exports. */
@Module({
  imports: [RoModule, IndexerStatusModule],
  providers: [ReconciliationService, BillingService, BillingResolver, LedgerResolver],
  exports: [ReconciliationService],
})
export class BillingModule {}
