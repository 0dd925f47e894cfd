import type { Provider } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { type BlobStore, createBlobStore } from '#storage';

/** The API's one blob store, as BLOB_STORE and its settings configure it (inject with `@Inject(BLOB_STORE)`). */
export const BLOB_STORE = Symbol('BLOB_STORE');

export const blobStoreProvider: Provider = {
  provide: BLOB_STORE,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig): BlobStore => createBlobStore(config.storage),
};
