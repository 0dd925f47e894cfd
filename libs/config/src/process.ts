import { AppConfig, ConfigError, configFromEnv } from './config.js';
import { RepeatLog } from './repeat-log.js';

/** What the apps close when they stop: a Nest application or application context. */
interface Closable {
  close(): Promise<void>;
}

/**
 * Stops the app once, whichever comes first: SIGTERM, SIGINT or SIGHUP (a process manager, a terminal), or the
 * launcher's IPC channel going away (Ctrl-C, or the launcher was killed). `app.close()` runs the shutdown hooks: the
 * API stops accepting connections and drains the requests in flight (Apollo's drain plugin, bounded to 10 s), then
 * every pool, bus and lock is closed. The process then exits 0; a close that does not finish within `boundMs` exits 1 (the supervisor restarts
 * or reports it), so a stop never hangs.
 */
export function stopOnSignalOrParentExit(app: Closable, boundMs: number): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      console.error(`did not stop within ${boundMs / 1000} s; exiting`);
      process.exit(1);
    }, boundMs).unref();
    app.close().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`stopping failed: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, stop);
  if (!process.send) return;
  // the launcher may have let go while this app was still starting (a stop during start-up)
  if (!process.connected) return stop();
  process.on('disconnect', stop);
}

/** Reads the configuration; an invalid one is reported by variable (no stack trace) and the app exits 2. */
export function configOrExit(app: string, env: NodeJS.ProcessEnv = process.env): AppConfig {
  try {
    const config = configFromEnv(env);
    RepeatLog.defaultIntervalMs = config.logRepeatIntervalMs;
    return config;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`[${app}] ${e.message}`);
    process.exit(2);
  }
}
