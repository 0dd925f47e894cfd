import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/index.js';
import { ChainModule } from '../chain/index.js';
import { MetricsModule } from '../metrics/index.js';
import { blobStoreProvider, BLOB_STORE } from './blob-store.provider.js';
import { StorageAccessService } from './storage-access.service.js';
import { StorageController } from './storage.controller.js';
import { UploadsService } from './uploads.service.js';

/** Study storage over HTTP: resumable chunk uploads (tus), manifests, ranged chunk downloads; the blob store. */
@Module({
  imports: [AuthModule, ChainModule, MetricsModule],
  controllers: [StorageController],
  providers: [blobStoreProvider, StorageAccessService, UploadsService],
  exports: [BLOB_STORE],
})
export class StorageModule {}
