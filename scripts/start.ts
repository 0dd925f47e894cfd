/**
 * `npm start`: validates the whole environment first (before the heavy modules load and long before Postgres or
 * anvil start), then runs the stack (scripts/lib/launcher.ts). A wrong variable is named with the value given and
 * the form expected, and nothing is started (exit code 2).
 */
import { ConfigError } from '#config';
import { LauncherSettings, validateLauncherEnv } from './lib/launcher-env.js';

let settings: LauncherSettings;
try {
  settings = validateLauncherEnv(process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`npm start: ${e.message}\nNothing was started; see docs/configuration.md.`);
  process.exit(2);
}
const { launch } = await import('./lib/launcher.js');
launch(settings);
