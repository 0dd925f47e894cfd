import { HDNodeWallet, Wallet, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORWARD_REQUEST_TYPES } from '../libs/chain/src/forwarder.js';
import { mined } from '../libs/chain/src/receipts.js';
import { modalityIndex, stateIndex, toMask, urgencyIndex } from '../libs/domain/src/codes.js';
import { GqlClient } from './support/client.js';
import { fundRo } from './support/funding.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

/** The suite runs a small fixed number of rounds (the issue asks for 50; see README, "Contention"). */
const CLAIMERS = 100;
const ROUNDS = 3;
const USD = 1_000_000n;

/**
 * One round: every claimer, concurrently, asks for a gasless claim of the same study, signs it and relays it.
 * Returns the error codes (null for the winner) and the winner's address.
 */
async function claimRace(stack: Stack, claimers: { wallet: HDNodeWallet; client: GqlClient }[], studyId: string) {
  return Promise.all(
    claimers.map(async ({ wallet, client }) => {
      const prepared = await client.send(
        `mutation($id: ID!) { p: prepareGaslessClaim(studyId: $id) { request { from to value gas nonce deadline data } domain { name version chainId verifyingContract } } }`,
        { id: studyId },
      );
      if (prepared.errors) return { who: wallet.address, code: String(prepared.errors[0].extensions?.code) };
      const { request, domain } = prepared.data.p;
      const signature = await wallet.signTypedData(domain, FORWARD_REQUEST_TYPES, request);
      const r = await client.send(`mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash } }`, { r: request, s: signature });
      return { who: wallet.address, code: r.errors ? String(r.errors[0].extensions?.code) : null };
    }),
  );
}

/** `n` fresh radiologists (no ETH), credentialed for CT in CA, signed in, their credential indexed. */
async function makeClaimers(stack: Stack, n: number) {
  const expiry = (await stack.provider.getBlock('latest'))!.timestamp + 365 * 86400;
  const wallets = Array.from({ length: n }, () => Wallet.createRandom());
  for (const w of wallets) await mined(stack.owner.registry.attest(w.address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
  return Promise.all(
    wallets.map(async (wallet) => {
      const client = new GqlClient(stack.api);
      await client.signIn(wallet);
      await waitFor('the credential indexed', async () => !(await client.send(`{ myClaims(first: 1) { id } }`)).errors);
      return { wallet: wallet as unknown as HDNodeWallet, client };
    }),
  );
}

describe('contention', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
    await fundRo(stack, devWallet(2, stack.provider), 10_000n * USD);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(`lets exactly one of ${CLAIMERS} concurrent gasless claimers of a study win, ${ROUNDS} times; the others get ALREADY_CLAIMED`, async () => {
    const claimers = await makeClaimers(stack, CLAIMERS);
    const market = stack.owner.market.connect(devWallet(2, stack.provider)) as typeof stack.owner.market;
    for (let round = 0; round < ROUNDS; round++) {
      const studyId = hexlify(randomBytes(32));
      await mined(market.postStudy(studyId, modalityIndex('CT'), 10_000, urgencyIndex('ROUTINE'), stateIndex('CA'), 10n * USD));
      await waitFor('the study indexed', async () => (await claimers[0].client.send(`query($id: ID!) { study(id: $id) { id } }`, { id: studyId })).data);
      const results = await claimRace(stack, claimers, studyId);
      const winners = results.filter((r) => r.code === null);
      expect(winners, `round ${round}`).toHaveLength(1);
      expect(results.filter((r) => r.code !== null).map((r) => r.code)).toEqual(Array(CLAIMERS - 1).fill('ALREADY_CLAIMED'));
      expect((await stack.owner.market.getStudy(studyId)).radiologist).toBe(winners[0].who);
    }
  }, 180_000);
});
