import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export type AppName = 'api' | 'indexer' | 'settler';
/** every compiled app, the RO agent included (it runs beside the platform, one per RO) */
export type AnyAppName = AppName | 'ro-agent';

/** A compiled app (dist/) running as its own process, as in production, with every output line kept and timed. */
export interface AppProcess {
  name: AnyAppName;
  child: ChildProcess;
  lines: { at: number; text: string }[];
}

/** Starts the compiled app `name` with exactly `env` (nothing inherited beyond it). `npm test` builds dist/ first. */
export function spawnApp(name: AnyAppName, env: NodeJS.ProcessEnv): AppProcess {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const app: AppProcess = { name, child, lines: [] };
  let partial = '';
  const collect = (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    for (const text of parts) if (text.trim()) app.lines.push({ at: Date.now(), text });
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return app;
}

/** SIGTERM to each app still running, SIGKILL after 10 s; resolves once all have exited. */
export async function stopApps(apps: AppProcess[]): Promise<void> {
  await Promise.all(
    apps.map(
      (a) =>
        new Promise<void>((resolve) => {
          if (a.child.exitCode !== null || a.child.signalCode !== null) return resolve();
          const kill = setTimeout(() => a.child.kill('SIGKILL'), 10_000);
          a.child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          a.child.kill('SIGTERM');
        }),
    ),
  );
}

/** Why the apps did not start: each one's exit status and last lines (for a test's failure message). */
export function lastWords(apps: AppProcess[], n = 15): string {
  return apps
    .map(
      (a) =>
        `${a.name} (exit ${a.child.exitCode ?? a.child.signalCode ?? 'none'}):\n${a.lines
          .slice(-n)
          .map((l) => l.text)
          .join('\n')}`,
    )
    .join('\n');
}

/** The lines every app wrote between `from` and `to` (ms since the epoch), each prefixed by the app's name. */
export function linesBetween(apps: AppProcess[], from: number, to: number): string[] {
  return apps.flatMap((a) => a.lines.filter((l) => l.at >= from && l.at < to).map((l) => `${a.name}: ${l.text}`));
}

/**
 * Readiness of a set of apps: `statuses()` is each one's `/ready` HTTP status (0 when it did not answer within
 * `boundMs`), `until()` polls it until a condition holds and returns when (ms since the epoch), or throws with the
 * last statuses.
 */
export function readinessOf<K extends string>(urls: () => Record<K, string>, boundMs: number) {
  const statuses = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries<string>(urls()).map(async ([name, url]) => {
          try {
            return [name, (await fetch(url, { signal: AbortSignal.timeout(boundMs) })).status];
          } catch {
            return [name, 0];
          }
        }),
      ),
    ) as Record<K, number>;
  const until = async (what: string, ok: (r: Record<K, number>) => boolean, ms: number) => {
    const end = Date.now() + ms;
    for (;;) {
      const r = await statuses();
      if (ok(r)) return Date.now();
      if (Date.now() > end) throw new Error(`${what}: readiness still ${JSON.stringify(r)} after ${ms} ms`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  return { statuses, until };
}

/**
 * How many lines an outage of `seconds` writes at the product's RepeatLog interval (10 s), from what a shorter one
 * wrote with a small interval: a repeated failure writes at most its first line and one summary per interval, so an
 * outage writes at most the busiest interval's lines in each interval (one more for the onset).
 */
export function projectedOutageLines(lines: { at: number }[], from: number, to: number, intervalMs: number, seconds: number) {
  const windows: number[] = [];
  for (let t = from; t + intervalMs <= to; t += intervalMs) windows.push(lines.filter((l) => l.at >= t && l.at < t + intervalMs).length);
  const perInterval = Math.max(0, ...windows);
  return { perInterval, windows, projected: perInterval * (1 + Math.ceil((seconds * 1000) / 10_000)) };
}
