import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig } from '#config';

interface DriverWithSockets {
  _subscriptionService?: { wss?: { options: { maxPayload?: number } } };
}

/**
 * graphql-ws frames are read before anyone is authenticated, like HTTP bodies, but Nest creates its WebSocketServer
 * with ws' default frame limit (100 MiB) and no option to change it, so anyone could send a 100 MiB
 * `connection_init`. Once the GraphQL driver has started, its server gets API_MAX_REQUEST_BYTES: a larger frame
 * closes the socket (1009) as it arrives. Byte uploads go over HTTP, where a session may send more.
 */
@Injectable()
export class WsFrameLimit implements OnApplicationBootstrap {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    const driver = this.moduleRef.get(GraphQLModule, { strict: false }).graphQlAdapter as unknown as DriverWithSockets;
    const wss = driver._subscriptionService?.wss;
    // @nestjs/apollo keeps the server in a private field: refuse to start rather than run without the limit if it moves
    if (!wss) throw new Error('cannot find the graphql-ws server to limit its frame size');
    wss.options.maxPayload = this.config.api.maxRequestBytes;
  }
}
