import 'reflect-metadata';
import { AppLogger, configOrExit, stopOnSignalOrParentExit } from '#config';
import { createApiApp } from './bootstrap.js';

const config = configOrExit('api');
const logger = new AppLogger('api');
const app = await createApiApp(config, { logger });
await app.listen(config.api.port, config.api.host);
// app.close(): Apollo's drain (@nestjs/apollo adds ApolloServerPluginDrainHttpServer) stops accepting connections,
// waits up to 10 s for the requests in flight and cuts the rest; then the pools close
stopOnSignalOrParentExit(app, 30_000);
logger.log(`OpenRead GraphQL API on http://${config.api.host}:${config.api.port}/graphql`, 'Api');
