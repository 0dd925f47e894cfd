import { Module } from '@nestjs/common';
import { ChainModule } from '../chain/index.js';
import { RelayModule } from '../relay/index.js';
import { TreasuryPayoutsService } from './payouts.service.js';
import { TreasuryResolver } from './treasury.resolver.js';
import { TreasuryRoles } from './treasury.roles.js';
import { TreasuryService } from './treasury.service.js';

/** The protocol treasury (a Safe): payouts proposed, signed and executed; grants TREASURY_OWNER (TreasuryRoles). */
@Module({ imports: [ChainModule, RelayModule], providers: [TreasuryService, TreasuryPayoutsService, TreasuryResolver, TreasuryRoles] })
export class TreasuryModule {}
