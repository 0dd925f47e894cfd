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
      client.on('data', (d: Buffer) => this.countClientBytes(d.length));
      upstream.on('data', (d: Buffer) => this.countServerBytes(d.length));
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

  private cut: { after: number; seen: number; done: () => void } | null = null;

  /**
   * Kills every open connection (both sides destroyed, as when a link drops) once `bytes` more bytes have come from
   * clients, e.g. in the middle of an upload's body; resolves then. New connections are accepted afterwards.
   */
  cutAfterClientBytes(bytes: number): Promise<void> {
    return new Promise((resolve) => (this.cut = { after: bytes, seen: 0, done: resolve }));
  }

  private countClientBytes(n: number): void {
    if (!this.cut || (this.cut.seen += n) < this.cut.after) return;
    const { done } = this.cut;
    this.cut = null;
    for (const link of this.links) link.destroy();
    done();
  }

  private serverCut: { after: number; seen: number; done: () => void } | null = null;

  /** As cutAfterClientBytes, counting the bytes that come from the server (e.g. in the middle of a download). */
  cutAfterServerBytes(bytes: number): Promise<void> {
    return new Promise((resolve) => (this.serverCut = { after: bytes, seen: 0, done: resolve }));
  }

  private countServerBytes(n: number): void {
    if (!this.serverCut || (this.serverCut.seen += n) < this.serverCut.after) return;
    const { done } = this.serverCut;
    this.serverCut = null;
    for (const link of this.links) link.destroy();
    done();
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
      let open = 2;
      const closed = () => {
        if (--open === 0) resolve();
      };
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        from.on('error', () => this.destroy());
        // one side finished: end the other gracefully, after what is buffered for it (destroying it here would drop
        // bytes its reader has not taken yet, e.g. the end of a response a slow client is still reading)
        from.on('end', () => this.endAfterHeld(to));
        from.on('close', closed);
      }
    });
    a.on('data', (d: Buffer) => this.forward(a, b, d));
    b.on('data', (d: Buffer) => this.forward(b, a, d));
    // backpressure, as a real network path has: a reader that stops reading stops its sender (not an unbounded buffer here)
    a.on('drain', () => b.resume());
    b.on('drain', () => a.resume());
  }

  private readonly ending = new Set<Socket>();

  private endAfterHeld(to: Socket): void {
    if (this.held.some(([t]) => t === to)) this.ending.add(to);
    else if (!to.destroyed) to.end();
  }

  private forward(from: Socket, to: Socket, data: Buffer): void {
    if (this.isPaused() || this.held.length) this.held.push([to, data]);
    else if (!to.write(data)) from.pause();
  }

  flush(): void {
    for (const [to, data] of this.held.splice(0)) if (!to.destroyed && !to.writableEnded) to.write(data);
    for (const to of this.ending) if (!to.destroyed) to.end();
    this.ending.clear();
  }

  destroy(): void {
    this.a.destroy();
    this.b.destroy();
  }
}
