// What other API features may use of the relay feature.
export { ForwardRequestInput, GaslessRequest } from './relay.models.js';
export { RelayModule } from './relay.module.js';
export { RelayService } from './relay.service.js';
export { TransactionOutbox, outcome } from './outbox.service.js';
