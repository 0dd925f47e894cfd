import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/index.js';
import { ChainModule } from '../chain/index.js';
import { CredentialsResolver } from './credentials.resolver.js';
import { CredentialsService } from './credentials.service.js';

/** Radiologists' credential applications, the verifiers' queue and decisions, credentials and notifications. */
@Module({ imports: [AuthModule, ChainModule], providers: [CredentialsService, CredentialsResolver] })
export class CredentialsModule {}
