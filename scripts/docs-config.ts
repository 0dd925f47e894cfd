/** `npm run docs:config`: renders docs/configuration.md from the config schema (scripts/lib/config-docs.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_DOC, renderConfigDoc, settingProblems } from './lib/config-docs.js';

const problems = settingProblems();
if (problems.length) {
  console.error(`the config schema is not fully documented:\n  - ${problems.join('\n  - ')}`);
  process.exit(1);
}
writeFileSync(join(import.meta.dirname, '..', CONFIG_DOC), renderConfigDoc());
console.log(`wrote ${CONFIG_DOC}`);
