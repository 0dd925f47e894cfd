/**
 * The clients of the request-floor bench (scripts/bench/floor.ts), in a worker thread of their own so that their
 * HTTP work does not run on the servers' event loop. workerData { url, clients }: signs `clients` new wallets in,
 * answers 'ready' with their addresses; then, per { kind: 'round', url, body, auth }, every client sends one POST of
 * `body` to `url` at the same moment (with its bearer token when `auth`), and the worker answers the latencies.
 * The same code sends to the API and to the bare reference endpoint, so the two rows differ only in the server.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { signedInClaimers } from '#devchain';

export type ToFloorClients = { kind: 'round'; url: string; body: string; auth: boolean };
export type FromFloorClients = { kind: 'ready'; addresses: string[] } | { kind: 'round'; ms: number[]; failed: number; example?: string };

const port = parentPort!;
const { url, clients: n } = workerData as { url: string; clients: number };
// signed in ten at a time: a hundred sign-ins at once on a busy machine can pass the database's deadline
const clients: Awaited<ReturnType<typeof signedInClaimers>> = [];
while (clients.length < n) clients.push(...(await signedInClaimers(url, Math.min(10, n - clients.length))));
port.postMessage({ kind: 'ready', addresses: clients.map((c) => c.wallet.address) } satisfies FromFloorClients);
port.on('message', async (m: ToFloorClients) => {
  let failed = 0;
  let example: string | undefined;
  const ms = await Promise.all(
    clients.map(async ({ client }) => {
      const t0 = performance.now();
      const res = await fetch(m.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(m.auth && { authorization: `Bearer ${client.token}` }) },
        body: m.body,
      });
      const answer = (await res.json()) as { data?: unknown; errors?: unknown };
      if (res.status !== 200 || !answer.data || answer.errors) {
        failed++;
        example ??= `${res.status} ${JSON.stringify(answer).slice(0, 300)}`;
      }
      return performance.now() - t0;
    }),
  );
  port.postMessage({ kind: 'round', ms, failed, example } satisfies FromFloorClients);
});
