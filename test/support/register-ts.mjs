// `node --import ./test/support/register-ts.mjs app.ts`: runs the TypeScript sources directly (SWC, with the
// decorator metadata NestJS needs), so the tests can start real indexer processes and SIGKILL them.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
