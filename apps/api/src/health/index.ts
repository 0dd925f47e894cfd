// What the app module uses of the health feature.
export { HealthModule } from './health.module.js';
