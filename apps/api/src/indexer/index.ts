// What other API features may use of the indexer-status feature.
export { Finality, FinalityService, type FinalityView, READ_YOUR_WRITES_WAIT_MS } from './finality.js';
export { IndexerStatusModule } from './indexer-status.module.js';
