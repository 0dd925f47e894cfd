import { Controller, Logger } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { CHAIN_EVENT, type ChainEventMessage } from '#bus';
import { InboxRepository } from '#db';
import { SettlerService } from './settler.service.js';

const TIMER_EVENTS = new Set(['StudyClaimed', 'ReportSubmitted', 'StudyDisputed', 'LeaseExpired']);
export const SETTLER_CONSUMER = 'settler';

/**
 * Chain events from the indexer (at-least-once: TCP request/reply or JetStream with explicit ack).
 * Idempotent: the inbox records each message ID once; a redelivery is acknowledged and otherwise ignored.
 */
@Controller()
export class SettlerController {
  private readonly logger = new Logger('Settler');
  constructor(
    private readonly settler: SettlerService,
    private readonly inbox: InboxRepository,
  ) {}

  @MessagePattern(CHAIN_EVENT)
  async onChainEvent(@Payload() message: ChainEventMessage): Promise<{ ack: true; duplicate: boolean }> {
    if (!message?.id || !message.event) {
      this.logger.warn('ignoring a malformed chain-event message');
      return { ack: true, duplicate: false };
    }
    const first = await this.inbox.firstDelivery(SETTLER_CONSUMER, message.id);
    if (first && TIMER_EVENTS.has(message.event.name)) this.settler.nudge();
    return { ack: true, duplicate: !first };
  }
}
