/**
 * The attacker of the pre-auth bench (preauth.ts): `concurrency` requests in flight from 127.0.0.2, cycling through
 * `attacks` (raw JSON bodies, no session), until the parent says 'stop'; then it reports how many requests it sent.
 * Runs as a worker thread (workerData) or, with BENCH_PREAUTH_PINNED, as a child process of its own pinned to
 * another core than the API (IPC: the parent sends { url, attacks, concurrency } first).
 */
import { Agent } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { post } from './preauth.js';

interface Job {
  url: string;
  attacks: string[];
  concurrency: number;
}

/** the parent's side: a worker's port, or this process's IPC channel */
const channel = parentPort
  ? { on: (f: (m: unknown) => void) => parentPort!.on('message', f), send: (m: unknown) => parentPort!.postMessage(m) }
  : { on: (f: (m: unknown) => void) => process.on('message', f), send: (m: unknown) => process.send!(m) };

async function attack({ url, attacks, concurrency }: Job): Promise<void> {
  const agent = new Agent({ keepAlive: true, localAddress: '127.0.0.2' });
  let attacking = true;
  let sent = 0;
  channel.on((m) => m === 'stop' && (attacking = false));
  const flood = Promise.all(
    Array.from({ length: concurrency }, async (_, k) => {
      for (let i = k; attacking; i++) {
        await post(new URL(url), agent, attacks[i % attacks.length]);
        sent++;
      }
    }),
  );
  channel.send('started');
  await flood;
  agent.destroy();
  channel.send(sent);
}

if (parentPort) await attack(workerData as Job);
else
  process.once('message', (job: Job) => {
    void attack(job).then(() => process.disconnect());
  });
