import { Module } from '@nestjs/common';
import { ChainModule } from '../chain/index.js';
import { RelayService } from './relay.service.js';
import { Relayer } from './relayer.service.js';

/** Gasless requests (ERC-2771): preparing and submitting them, and the outbox relayer that sends them. */
@Module({ imports: [ChainModule], providers: [RelayService, Relayer], exports: [RelayService] })
export class RelayModule {}
