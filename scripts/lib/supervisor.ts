import { ChildProcess, fork } from 'node:child_process';

/**
 * Keeps the apps of `npm start` running: an app that exits on its own is started again after a backoff, and the
 * operator is told which one died and why (exit code or signal, the last lines it wrote to stderr). An app that
 * keeps crashing (`limit` exits within `windowMs`) is not restarted: `onGiveUp` stops the stack. Neither is an app
 * that exits with CONFIG_EXIT_CODE: its configuration is invalid, and starting it again would only fail the same way.
 */
export interface SupervisorOptions {
  /** exits within windowMs after which an app is given up (the stack stops) */
  limit: number;
  windowMs: number;
  /** first backoff; doubles with each recent exit, up to maxBackoffMs */
  backoffMs: number;
  maxBackoffMs: number;
  onGiveUp(reason: string): void;
  log(line: string): void;
}

/** Lines of stderr kept per app to explain an exit. */
const TAIL_LINES = 8;
const TAIL_LINE_CHARS = 300;

/**
 * The apps log no PHI by design; this is a second line of defence for what is repeated to the operator's terminal:
 * long hex (keys, ciphertext, signatures) and anything that looks like an e-mail address or a bearer token is masked.
 */
export function scrub(line: string): string {
  return line
    .replace(/0x[0-9a-fA-F]{64,}/g, '0x…')
    .replace(/\b[\w.+-]+@[\w-]+\.[\w.-]+\b/g, '…@…')
    .replace(/(Bearer\s+)\S+/gi, '$1…')
    .slice(0, TAIL_LINE_CHARS);
}

/** The exit code of an app whose configuration is invalid (`configOrExit` in #config). */
export const CONFIG_EXIT_CODE = 2;

export const describeExit = (code: number | null, signal: NodeJS.Signals | null) => (signal ? `killed by ${signal}` : `exit code ${code}`);

interface Supervised {
  name: string;
  script: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  startedAt: number;
  exits: number[];
  tail: string[];
  restartTimer?: NodeJS.Timeout;
}

export class Supervisor {
  private readonly apps = new Map<string, Supervised>();
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  /** Starts an app (a compiled main.js) in its own process group, with an IPC channel: it closes itself when that goes. */
  start(name: string, script: string, env: NodeJS.ProcessEnv): ChildProcess {
    const app: Supervised = { name, script, env, child: undefined as unknown as ChildProcess, startedAt: 0, exits: [], tail: [] };
    this.apps.set(name, app);
    this.spawn(app);
    return app.child;
  }

  /** The running process of an app (a new one after each restart). */
  child(name: string): ChildProcess | undefined {
    return this.apps.get(name)?.child;
  }

  /** From now on no app is restarted; a pending restart is cancelled. */
  stopRestarting(): void {
    this.stopping = true;
    for (const app of this.apps.values()) clearTimeout(app.restartTimer);
  }

  private spawn(app: Supervised): void {
    // own process group: a terminal's Ctrl-C reaches the launcher, which stops the apps in order;
    // stderr through the launcher, which keeps its last lines to explain an exit
    const child = fork(app.script, [], { env: app.env, stdio: ['inherit', 'inherit', 'pipe', 'ipc'], detached: true });
    app.child = child;
    app.startedAt = Date.now();
    app.tail = [];
    let partial = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) app.tail.push(scrub(line));
      app.tail.splice(0, Math.max(0, app.tail.length - TAIL_LINES));
    });
    child.once('exit', (code, signal) => {
      if (partial.trim()) app.tail.push(scrub(partial));
      if (!this.stopping) this.exited(app, code, signal);
    });
  }

  private exited(app: Supervised, code: number | null, signal: NodeJS.Signals | null): void {
    const { limit, windowMs, backoffMs, maxBackoffMs, log } = this.options;
    const now = Date.now();
    app.exits = [...app.exits.filter((t) => now - t < windowMs), now];
    const ranFor = ((now - app.startedAt) / 1000).toFixed(1);
    const tail = app.tail.length ? `; its last stderr lines:\n    ${app.tail.join('\n    ')}` : '; it wrote nothing to stderr';
    log(`${app.name} exited (${describeExit(code, signal)}) after ${ranFor} s${tail}`);
    if (code === CONFIG_EXIT_CODE) {
      this.stopRestarting();
      this.options.onGiveUp(
        `${app.name} exited with code ${CONFIG_EXIT_CODE}: its configuration is invalid (see the lines above); not restarted`,
      );
      return;
    }
    if (app.exits.length >= limit) {
      this.stopRestarting();
      this.options.onGiveUp(`${app.name} exited ${app.exits.length} times within ${windowMs / 1000} s`);
      return;
    }
    const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (app.exits.length - 1));
    log(
      `restarting ${app.name} in ${(delay / 1000).toFixed(1)} s (exit ${app.exits.length} of ${limit} allowed within ${windowMs / 1000} s)`,
    );
    app.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.spawn(app);
      log(`${app.name} restarted (pid ${app.child.pid})`);
    }, delay);
  }
}
