// What other API features may use of the live feature.
export { LiveModule } from './live.module.js';
export { StudyFeed } from './study-feed.service.js';
