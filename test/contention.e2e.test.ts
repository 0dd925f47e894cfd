import { NonceManager } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphqlHttp, attestTogether, claimRace, indexedUpTo, postTogether, signedInClaimers, DEV_ROLES } from '#devchain';
import { fundRo } from './support/funding.js';
import { Stack, devWallet, startStack } from './support/stack.js';

/**
 * Issue 6's contention test: 100 concurrent gasless claimers of one study, exactly one wins and the 99 others get
 * ALREADY_CLAIMED; 50 times. The 100 credentials are attested in one block and the 50 studies posted in one
 * block, indexed once, then the 50 races run one after the other over real HTTP (tools/devchain/src/claim-race.ts, which
 * `BENCH=claim npm run bench` times).
 */
const CLAIMERS = 100;
const ROUNDS = 50;
const USD = 1_000_000n;

describe('contention', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
    await fundRo(stack, devWallet(DEV_ROLES.roDepositor, stack.provider), 10_000n * USD);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(`lets exactly one of ${CLAIMERS} concurrent gasless claimers of a study win, ${ROUNDS} times; the others get ALREADY_CLAIMED`, async () => {
    const url = `${await stack.api.getUrl()}/graphql`.replace('[::1]', '127.0.0.1');
    const claimers = await signedInClaimers(url, CLAIMERS);
    const expiry = (await stack.provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await attestTogether(
      stack.provider,
      stack.owner.registry,
      claimers.map((c) => c.wallet.address),
      expiry,
    );
    const ro = stack.owner.market.connect(new NonceManager(devWallet(DEV_ROLES.roDepositor, stack.provider))) as typeof stack.owner.market;
    const { studyIds, block } = await postTogether(stack.provider, ro, ROUNDS, stack.issuer.privateKey);
    await indexedUpTo(new GraphqlHttp(url), block);
    const relayer = devWallet(DEV_ROLES.relayer, stack.provider).address;
    const relayerNonce = await stack.provider.getTransactionCount(relayer);

    for (const [round, studyId] of studyIds.entries()) {
      const attempts = await claimRace(claimers, studyId);
      const winners = attempts.filter((a) => a.code === null);
      expect(winners, `round ${round}: one winner`).toHaveLength(1);
      expect(
        attempts.filter((a) => a.code !== null).map((a) => a.code),
        `round ${round}: the losers`,
      ).toEqual(Array(CLAIMERS - 1).fill('ALREADY_CLAIMED'));
      expect((await stack.owner.market.getStudy(studyId)).radiologist, `round ${round}: the chain's claimant`).toBe(winners[0].who);
    }
    // the relayer sent one transaction per race: the losers cost it no gas; and they were refused before the outbox
    // (a lost claim waits for the claim of the same study in flight, then fails its simulation)
    expect(await stack.provider.getTransactionCount(relayer)).toBe(relayerNonce + ROUNDS);
    const db = new pg.Client({ connectionString: stack.config.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM relay_requests GROUP BY status`);
      expect(rows).toEqual([{ status: 'MINED', n: ROUNDS }]);
    } finally {
      await db.end();
    }
  }, 240_000);
});
