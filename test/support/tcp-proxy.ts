import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy a test controls, between an app and a dependency it must not signal (the machine's shared
 * Postgres). `pause()` is a network partition: connections stay open and new ones are accepted, but no byte
 * crosses in either direction (they wait here) until `resume()`, as when a switch or a VM hangs.
 */
export class PausableProxy {
  private server: Server | null = null;
  private paused = false;
  private readonly links = new Set<Link>();

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Listens on a free loopback port; returns it. */
  async start(): Promise<number> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      const link = new Link(client, upstream, () => this.paused);
      this.links.add(link);
      link.closed.then(() => this.links.delete(link));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const link of this.links) link.flush();
  }

  async stop(): Promise<void> {
    for (const link of this.links) link.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** One proxied connection: bytes read while paused are held, in order, and written on resume. */
class Link {
  private readonly held: [Socket, Buffer][] = [];
  readonly closed: Promise<void>;

  constructor(
    private readonly a: Socket,
    private readonly b: Socket,
    private readonly isPaused: () => boolean,
  ) {
    this.closed = new Promise((resolve) => {
      const end = () => {
        this.destroy();
        resolve();
      };
      for (const s of [a, b]) {
        s.on('error', end);
        s.on('close', end);
      }
    });
    a.on('data', (d: Buffer) => this.forward(b, d));
    b.on('data', (d: Buffer) => this.forward(a, d));
  }

  private forward(to: Socket, data: Buffer): void {
    if (this.isPaused() || this.held.length) this.held.push([to, data]);
    else to.write(data);
  }

  flush(): void {
    for (const [to, data] of this.held.splice(0)) if (!to.destroyed) to.write(data);
  }

  destroy(): void {
    this.a.destroy();
    this.b.destroy();
  }
}
