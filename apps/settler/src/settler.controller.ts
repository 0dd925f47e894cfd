import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { CHAIN_EVENT } from '../../../libs/bus/src/index.js';
import { SettlerService } from './settler.service.js';

const TIMER_EVENTS = new Set(['StudyClaimed', 'ReportSubmitted', 'StudyDisputed', 'LeaseExpired']);

@Controller()
export class SettlerController {
  constructor(private readonly settler: SettlerService) {}

  @EventPattern(CHAIN_EVENT)
  onChainEvent(@Payload() event: { name: string }): void {
    if (TIMER_EVENTS.has(event.name)) this.settler.nudge();
  }
}
