import { INestApplication } from '@nestjs/common';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

/** A graphql-ws subscription over a real WebSocket to the running API, with a queue to await events from. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- events are read as untyped JSON unless T is given, as in client.ts
export async function subscribe<T = any>(app: INestApplication, token: string, query: string) {
  const { port } = app.getHttpServer().address() as { port: number };
  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const queue: { data?: T; errors?: readonly { message: string; extensions?: Record<string, unknown> }[] }[] = [];
  let wake: (() => void) | undefined;
  const dispose = client.subscribe<T>(
    { query },
    {
      next: (r) => {
        queue.push(r as never);
        wake?.();
      },
      error: (e) => {
        queue.push({ errors: Array.isArray(e) ? e : [{ message: String((e as Error)?.message ?? e) }] });
        wake?.();
      },
      complete: () => undefined,
    },
  );
  return {
    /** the next message (data or errors), or throws after `timeoutMs` */
    async next(timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      while (!queue.length) {
        if (Date.now() > until) throw new Error('no subscription event in time');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      return queue.shift()!;
    },
    pending: () => queue.length,
    async close() {
      dispose();
      await client.dispose();
    },
  };
}
