// What other API features may use of the exchange feature.
export { ExchangeModule } from './exchange.module.js';
export { AccessAlertFeed } from './access-alerts.feed.js';
