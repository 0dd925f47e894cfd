// What other API features may use of the credentials feature.
export { CredentialsModule } from './credentials.module.js';
