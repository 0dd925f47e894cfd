/**
 * `npm run demo` (with `npm start` running): the RO deposits and posts a handful of studies, the verifier
 * attests two radiologists, so the worklist is not empty. Safe to run more than once (new random study IDs).
 */
import { mined, createProvider, issuanceArgs, studyIdIssuerFor } from '#chain';
import { Deployment, contracts, devKey } from '#devchain';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NonceManager, hexlify, randomBytes } from 'ethers';
import { modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { STATE_DIR } from './lib/local-stack.js';

const USD = 1_000_000n;
const STUDIES: [modality: string, difficultyBps: number, urgency: string, state: string, maxUsd: bigint][] = [
  ['CT', 15_000, 'STAT', 'CA', 300n],
  ['MR', 20_000, 'URGENT', 'NY', 400n],
  ['XR', 10_000, 'ROUTINE', 'TX', 50n],
  ['CT', 12_000, 'ROUTINE', 'NY', 150n],
  ['US', 10_000, 'URGENT', 'FL', 80n],
  ['MG', 11_000, 'ROUTINE', 'GA', 90n],
  ['MR', 25_000, 'STAT', 'CA', 900n],
  ['XR', 10_000, 'ROUTINE', 'FL', 40n],
];

async function main() {
  let deployment: Deployment & { rpcUrl: string };
  try {
    deployment = JSON.parse(readFileSync(join(STATE_DIR, 'deployment.json'), 'utf8'));
  } catch {
    throw new Error('no local deployment found: start the stack first with `npm start`');
  }
  const provider = createProvider(deployment.rpcUrl);
  const verifier = contracts(deployment, new NonceManager(devKey(0).connect(provider)));
  const ro = contracts(deployment, new NonceManager(devKey(2).connect(provider)));

  // the API signs study IDs in normal use (prepareStudyPosting); the demo posts directly, so it signs with the
  // issuer key npm start used (STUDY_ID_ISSUER_PRIVATE_KEY, default dev account #11)
  const issue = studyIdIssuerFor(process.env.STUDY_ID_ISSUER_PRIVATE_KEY ?? devKey(11).privateKey, deployment.market, deployment.chainId);
  const roAddress = devKey(2).address;
  const total = STUDIES.reduce((s, x) => s + x[4], 0n) * USD;
  await mined(ro.token.approve(deployment.market, total));
  await mined(ro.market.deposit(total));
  for (const [m, d, u, s, max] of STUDIES) {
    const id = hexlify(randomBytes(32));
    await mined(ro.market.postStudy(id, modalityIndex(m), d, urgencyIndex(u), stateIndex(s), max * USD, ...issuanceArgs(issue(roAddress, id))));
    console.log(`posted ${id}  ${m} ${u.padEnd(7)} ${s}  max ${max} tUSD`);
  }
  const expiry = (await provider.getBlock('latest'))!.timestamp + 2 * 365 * 86400;
  const attest = async (i: number, states: string[], modalities: string[]) => {
    await mined(
      verifier.registry.attest(devKey(i).address, toMask(states.map(stateIndex)), toMask(modalities.map(modalityIndex)), expiry)
    );
    console.log(`verified radiologist #${i} ${devKey(i).address}: ${states.join('/')} for ${modalities.join('/')}`);
  };
  await attest(3, ['CA', 'NY', 'TX'], ['CT', 'MR', 'XR']);
  await attest(4, ['FL', 'GA'], ['XR', 'US', 'MG']);
  provider.destroy();
  console.log('\nSign in as radiologist #3 or #4 (keys printed by npm start) and query `worklist`.');
}

main().catch((e) => {
  console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
