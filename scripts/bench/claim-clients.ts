/**
 * The radiologists' side of the claim bench, in a worker thread of its own (scripts/bench/claim.ts starts it): the
 * clients' signing and HTTP work does not run on the API's event loop, as it would not in production.
 * workerData { url, claimers }; answers 'ready' with the signed-in addresses, then one 'raced' per 'race' and one
 * 'baseline' per 'baseline' (every claimer sends one myClaims query at the same moment), one 'solo' per 'solo' (one
 * claimer claims a study alone).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { type ClaimAttempt, claimGasless, claimRace, signedInClaimers, threadCpuSeconds } from '#devchain';

export type ToClients = { kind: 'race'; studyId: string } | { kind: 'solo'; studyId: string } | { kind: 'baseline' };
export type FromClients =
  | { kind: 'ready'; addresses: string[] }
  | { kind: 'raced'; attempts: Awaited<ReturnType<typeof claimRace>>; eventLoopUtilization: number; cpuSeconds: number }
  | { kind: 'solo'; attempt: ClaimAttempt }
  | { kind: 'baseline'; ms: number[] };

const port = parentPort!;
const { url, claimers: n } = workerData as { url: string; claimers: number };
const claimers = await signedInClaimers(url, n);
port.postMessage({ kind: 'ready', addresses: claimers.map((c) => c.wallet.address) } satisfies FromClients);
port.on('message', async (m: ToClients) => {
  if (m.kind === 'baseline') {
    // the same clients, all at once, each with the cheapest signed-in query: what any request costs
    const ms = await Promise.all(
      claimers.map(async ({ client }) => {
        const t0 = performance.now();
        await client.ok(`{ myClaims(first: 1) { id } }`);
        return performance.now() - t0;
      }),
    );
    port.postMessage({ kind: 'baseline', ms } satisfies FromClients);
    return;
  }
  if (m.kind === 'solo') {
    // one claimer, nobody else: the latency of a claim without contention
    port.postMessage({ kind: 'solo', attempt: await claimGasless(claimers[0], m.studyId) } satisfies FromClients);
    return;
  }
  const elu = performance.eventLoopUtilization();
  const cpu = threadCpuSeconds();
  const attempts = await claimRace(claimers, m.studyId);
  port.postMessage({
    kind: 'raced',
    attempts,
    eventLoopUtilization: performance.eventLoopUtilization(elu).utilization,
    cpuSeconds: threadCpuSeconds() - cpu,
  } satisfies FromClients);
});
