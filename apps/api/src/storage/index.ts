// What other API features may use of the storage feature: the configured blob store.
export { BLOB_STORE } from './blob-store.provider.js';
export { StorageModule } from './storage.module.js';
