/**
 * The attacker of the pre-auth bench (preauth.ts), in a worker thread: `concurrency` requests in flight from
 * 127.0.0.2, cycling through `attacks` (raw JSON bodies, no session), until the parent posts 'stop'; then it posts
 * how many requests it sent.
 */
import { Agent } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { post } from './preauth.js';

const { url, attacks, concurrency } = workerData as { url: string; attacks: string[]; concurrency: number };
const agent = new Agent({ keepAlive: true, localAddress: '127.0.0.2' });
let attacking = true;
let sent = 0;
parentPort!.once('message', () => (attacking = false));
const flood = Promise.all(
  Array.from({ length: concurrency }, async (_, k) => {
    for (let i = k; attacking; i++) {
      await post(new URL(url), agent, attacks[i % attacks.length]);
      sent++;
    }
  }),
);
parentPort!.postMessage('started');
await flood;
agent.destroy();
parentPort!.postMessage(sent);
