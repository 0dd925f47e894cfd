import { Module } from '@nestjs/common';
import { ChainModule } from '../chain/index.js';
import { RelayModule } from '../relay/index.js';
import { GovernanceResolver } from './governance.resolver.js';
import { GovernanceRoles } from './governance.roles.js';
import { GovernanceService } from './governance.service.js';
import { ProposalsService } from './proposals.service.js';

/** DAO governance: proposals, votes, parameters; grants DAO_MEMBER (GovernanceRoles). */
@Module({ imports: [ChainModule, RelayModule], providers: [GovernanceService, ProposalsService, GovernanceResolver, GovernanceRoles] })
export class GovernanceModule {}
