import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '#devchain';

const NATS_SERVER = process.env.NATS_SERVER_BIN || '/usr/sbin/nats-server';

/**
 * A NATS server with JetStream that a test owns (never the machine's on 4222): a free loopback port and its own
 * store directory, so a test may pause it (SIGSTOP: a hung server or a partition), kill it (SIGKILL) and start it
 * again on the same port and store, as a supervisor would after a crash.
 */
export class OwnNats {
  private child: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error('nats-server is not running');
    return this.child.pid;
  }

  static async start(): Promise<OwnNats> {
    const nats = new OwnNats(await freePort(), await mkdtemp(join(tmpdir(), 'openread-nats-')));
    await nats.restart();
    return nats;
  }

  /** Starts the server (again) on its port and store; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error('nats-server is still running');
    const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    this.child = child;
    for (const until = Date.now() + 15_000; ; await new Promise((r) => setTimeout(r, 50))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited ${child.exitCode}`);
      if (await accepts(this.port)) return;
      if (Date.now() > until) throw new Error('nats-server did not start');
    }
  }

  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.child?.pid && this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid, 'SIGCONT');
  }

  /** SIGKILL (a crash); resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
