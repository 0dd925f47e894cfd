import { withoutLogId } from './logger.js';

/**
 * Logs a repeated error once, then a count per interval: a loop that fails every poll while a dependency is down
 * (Postgres, the chain node, the bus) writes one line when the failure starts, one summary per `intervalMs` while it
 * lasts, and one line when it ends, instead of a line per attempt. Messages are grouped by their text with numbers
 * removed (attempt counts, durations, row ids differ between repeats of the same failure).
 */
export class RepeatLog {
  /** the interval of every RepeatLog not given its own: LOG_REPEAT_INTERVAL_MS, set by configOrExit */
  static defaultIntervalMs = 10_000;
  private readonly seen = new Map<string, { message: string; repeats: number; since: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: { error(message: string): void; log(message: string): void },
    private readonly ownIntervalMs?: number,
  ) {}

  /** read when a count starts, so a RepeatLog made at import time follows the configuration read after it */
  private get intervalMs(): number {
    return this.ownIntervalMs ?? RepeatLog.defaultIntervalMs;
  }

  /** Reports a failure: written at once if new, else counted for the next summary. */
  error(message: string): void {
    const key = message.replace(/\d+/g, '#');
    const entry = this.seen.get(key);
    if (entry) {
      entry.repeats++;
      entry.message = message;
      return;
    }
    this.seen.set(key, { message, repeats: 0, since: Date.now() });
    this.write.error(message);
    // the summaries belong to no single request or pass: the timer must not keep the id of the one that failed first
    this.timer ??= withoutLogId(() => setInterval(() => this.flush(), this.intervalMs).unref());
  }

  /** The work succeeded again: ends every failure being counted, saying how long it lasted. */
  ok(what = 'recovered'): void {
    if (!this.seen.size) return;
    const since = Math.min(...[...this.seen.values()].map((e) => e.since));
    this.flush();
    this.seen.clear();
    this.stop();
    this.write.log(`${what} after ${Math.round((Date.now() - since) / 1000)} s of failures`);
  }

  /**
   * Writes the counts of the interval that just ended. A failure that did not recur in it is forgotten (a caller
   * with no success signal, like a query logger): when it comes back it is new and written at once.
   */
  flush(): void {
    for (const [key, e] of this.seen)
      if (e.repeats) {
        this.write.error(`${e.message} (repeated ${e.repeats}× in the last ${Math.round(this.intervalMs / 1000)} s)`);
        e.repeats = 0;
      } else this.seen.delete(key);
    if (!this.seen.size) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
