// What other API features may use of the RO feature.
export { PostingService } from './posting.service.js';
export { RoAccessService, parseRoId } from './ro-access.service.js';
export { RoModule } from './ro.module.js';
