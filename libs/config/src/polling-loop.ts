import { newLogId, withLogId } from './logger.js';

/**
 * A timer loop for the apps' background work: runs `pass` now, then `intervalMs` after each pass ends (never two
 * passes at once), `nudge()` asks for a pass as soon as the current one ends, and `stop()` waits for a running pass.
 * A pass that throws is reported to `onError` (a RepeatLog keeps an outage to a few lines) and the loop goes on.
 */
export class PollingLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private rerun = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onError: (e: Error) => void,
    /** after each pass that did not throw (e.g. RepeatLog.ok: the end of an outage) */
    private readonly onOk: () => void = () => undefined,
    /** the prefix of each pass's log id (`pass-1f2e3d4c`) */
    private readonly kind = 'pass',
  ) {}

  start(): void {
    this.schedule(0);
  }

  nudge(): void {
    if (this.running) this.rerun = true;
    else this.schedule(0);
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // the pass and what it reports carry one id (its lines can be followed, and told from the next pass's)
      this.running = withLogId(newLogId(this.kind), () =>
        this.pass().then(
          () => this.onOk(),
          (e) => this.onError(e as Error),
        ),
      ).finally(() => {
        this.running = null;
        const again = this.rerun;
        this.rerun = false;
        this.schedule(again ? 0 : this.intervalMs);
      });
    }, ms);
  }
}
