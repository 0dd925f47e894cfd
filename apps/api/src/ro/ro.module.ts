import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/index.js';
import { ChainModule } from '../chain/index.js';
import { RelayModule } from '../relay/index.js';
import { AccessLogProofService } from './access-log-proof.service.js';
import { AccessLogResolver } from './access-log.resolver.js';
import { LeaseService } from './lease.service.js';
import { PostingService } from './posting.service.js';
import { RoAccessService } from './ro-access.service.js';
import { RoFundsResolver } from './ro-funds.resolver.js';
import { RoFundsService } from './ro-funds.service.js';
import { RoResolver } from './ro.resolver.js';
import { RoService } from './ro.service.js';
import { StudyVaultResolver } from './study-vault.resolver.js';

/** Radiology organisations: their members, postings and study vault (leases), and their funds in the market. */
@Module({
  imports: [AuthModule, ChainModule, RelayModule],
  providers: [
    RoAccessService,
    RoService,
    PostingService,
    LeaseService,
    RoFundsService,
    RoResolver,
    RoFundsResolver,
    StudyVaultResolver,
    AccessLogProofService,
    AccessLogResolver,
  ],
  exports: [RoAccessService, PostingService],
})
export class RoModule {}
