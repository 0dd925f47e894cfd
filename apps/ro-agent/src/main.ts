import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppLogger, configOrExit, stopOnSignalOrParentExit } from '#config';
import { missingAgentSettings } from './agent.service.js';
import { serveAgentHttp } from './http.js';
import { FileKeyService, KeyFileError } from './keys.js';
import { RoAgentModule } from './ro-agent.module.js';

const config = configOrExit('ro-agent');
const missing = missingAgentSettings(config);
if (missing.length) {
  console.error(`[ro-agent] invalid configuration:\n  - ${missing.map((v) => `${v} is not set: it is required`).join('\n  - ')}`);
  process.exit(2);
}
let keys: FileKeyService;
try {
  keys = new FileKeyService(config.roAgent.keyFile!);
} catch (e) {
  if (!(e instanceof KeyFileError)) throw e;
  console.error(`[ro-agent] ${e.message}`);
  process.exit(2);
}
const logger = new AppLogger('ro-agent', { levels: ['fatal', 'error', 'warn', 'log'] });
const app = await NestFactory.createApplicationContext(RoAgentModule.forRoot(config, keys), { logger });
const http = await serveAgentHttp(app);
// the last line the launcher and the tests read: the agent's address
new Logger('RoAgent').log(
  `RO agent of ${config.roAgent.ro} (policy ${config.roAgent.policy}) on ${http.url}: /health, /ready, /metrics, /queue`,
);
// the pass in flight finishes first (AgentService.onApplicationShutdown), then the pool closes
stopOnSignalOrParentExit({ close: async () => (await http.close(), await app.close()) }, 30_000);
