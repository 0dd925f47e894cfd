import 'reflect-metadata';
import { configFromEnv, exitWithParent } from '#config';
import { createApiApp } from './bootstrap.js';

const config = configFromEnv();
const app = await createApiApp(config);
await app.listen(config.api.port, config.api.host);
exitWithParent(app);
console.log(`OpenRead GraphQL API on http://${config.api.host}:${config.api.port}/graphql`);
