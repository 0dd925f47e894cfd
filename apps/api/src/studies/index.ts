// What other API features may use of the studies feature.
export { StudiesModule } from './studies.module.js';
export { RelayedTransaction, Study, StudyStatus } from './study.models.js';
