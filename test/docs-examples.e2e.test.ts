import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexlify, randomBytes } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { increaseTime, latestTimestamp } from '#devchain';
import { mined } from '#chain';
import { modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { Block, fetchSchema, namedOperations, readBlocks, runJourney, validateGraphqlBlocks } from './support/doc-examples.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

// The documentation's journeys, run as written (docs/api/README.md, "How the examples on these pages run") on one
// stack configured like `npm start`: the DAO of dev accounts #3, #4, #5 with npm start's periods, the 2-of-3
// treasury Safe of #1, #6, #7, the platform admin #12. What `npm start` and `npm run demo` would have done before a
// journey (tokens for the RO, a verified radiologist, a study in the worklist, fees in the treasury) each journey's
// test does itself, so no journey depends on another's leftovers.
const USD = 1_000_000n;
const CLIENT = 'docs/api/README.md';
const journey = (page: string) => [CLIENT, page];

describe('the documentation examples run against the real stack', () => {
  let stack: Stack;
  let db: pg.Pool;
  const sent: string[] = [];
  const realFetch = globalThis.fetch;
  const w = (i: number) => devWallet(i, stack.provider);

  /** What `npm run demo` does for radiologist #3: verified for CA/NY/TX and CT/MR/XR. */
  const verifyRadiologist3 = async () => {
    const expiry = (await latestTimestamp(stack.provider)) + 2 * 365 * 86400;
    await mined(stack.owner.registry.attest(w(3).address, toMask(['CA', 'NY', 'TX'].map(stateIndex)), toMask(['CT', 'MR', 'XR'].map(modalityIndex)), expiry));
  };
  /** A CT study in CA posted straight to the contract by a poster outside any RO (dev #14), as the demo posts. */
  const postCaCtStudy = async (maxBounty = 300n * USD) => {
    const poster = w(14);
    await mined(stack.owner.token.mint(poster.address, maxBounty));
    await mined((stack.owner.token.connect(poster) as typeof stack.owner.token).approve(stack.deployment.market, maxBounty));
    const market = stack.owner.market.connect(poster) as typeof stack.owner.market;
    await mined(market.deposit(maxBounty));
    const id = hexlify(randomBytes(32));
    await mined(market.postStudy(id, modalityIndex('CT'), 15_000, urgencyIndex('STAT'), stateIndex('CA'), maxBounty, ...stack.issued(poster.address, id)));
    return id;
  };
  /** A settled study, so the treasury holds fees: posted by #14, read by #3 (straight to the contract), settled by the settler. */
  const settleOneStudy = async () => {
    await verifyRadiologist3();
    const id = await postCaCtStudy();
    const reader = stack.owner.market.connect(w(3)) as typeof stack.owner.market;
    await mined(reader.claim(id));
    await mined(reader.submitReport(id, hexlify(randomBytes(32))));
    await increaseTime(stack.provider, 24 * 3600 + 60);
    await waitFor('the settler to settle', async () => Number((await stack.owner.market.getStudy(id)).status) === 5, 30_000);
  };
  /** Waits until the indexer has the study (the demo's postings are long indexed when a user starts). */
  const indexed = (studyId: string) =>
    waitFor('the study indexed', async () => (await db.query(`SELECT 1 FROM studies WHERE study_id = $1`, [studyId.toLowerCase()])).rowCount);
  /** Runs a journey page, recording the GraphQL documents it sends; every operation the page shows must be among them. */
  const run = async (page: string) => {
    sent.length = 0;
    const operations = await runJourney(journey(page));
    const shown = namedOperations(readBlocks(page));
    expect(shown.size, `${page} shows no runnable operation`).toBeGreaterThan(0);
    for (const [name, text] of shown) {
      expect(operations.get(name)).toBe(text);
      expect(sent.includes(text), `${page}: operation ${name} is shown but never sent`).toBe(true);
    }
  };

  const scratch = mkdtempSync(join(tmpdir(), 'openread-docs-'));
  beforeAll(async () => {
    stack = await startStack({
      governance: { members: [3, 4, 5].map((i) => ({ address: devWallet(i, null as never).address })), votingDelay: 1, votingPeriod: 300, lateQuorumExtension: 60, timelockDelay: 120, quorumPercent: 40 },
      treasurySafe: { owners: [1, 6, 7], threshold: 2 },
      api: { adminAddresses: [devWallet(12, null as never).address] },
      settlerPollMs: 200,
    });
    // what npm start writes to .openread/deployment.json
    process.env.OPENREAD_DEPLOYMENT = join(scratch, 'deployment.json');
    writeFileSync(process.env.OPENREAD_DEPLOYMENT, JSON.stringify({ rpcUrl: stack.anvil.rpcUrl, ...stack.deployment }));
    db = new pg.Pool({ connectionString: stack.config.databaseUrl, max: 1 });
    process.env.OPENREAD_API = `http://127.0.0.1:${stack.api.getHttpServer().address().port}/graphql`;
    process.env.OPENREAD_RPC = stack.anvil.rpcUrl;
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      if (typeof init?.body === 'string' && String(input) === process.env.OPENREAD_API) sent.push(JSON.parse(init.body).query);
      return realFetch(input, init);
    }) as typeof fetch;
  });
  afterAll(async () => {
    globalThis.fetch = realFetch;
    await db?.end();
    rmSync(scratch, { recursive: true, force: true });
    await stack?.stop();
  });

  it('every other GraphQL block of docs/ is valid against the API schema', async () => {
    const pages = ['README.md', ...readdirSync('docs', { recursive: true }).map(String).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    const blocks: Block[] = pages.flatMap(readBlocks);
    expect(blocks.filter((b) => b.lang === 'graphql').length).toBeGreaterThan(20);
    expect(validateGraphqlBlocks(await fetchSchema(process.env.OPENREAD_API!, realFetch), blocks)).toEqual([]);
  });

  it('radiologist: sign in → worklist → claim → report → time passes → paid → withdraw', async () => {
    await verifyRadiologist3();
    const studyId = await postCaCtStudy();
    await indexed(studyId);
    const tokensBefore = (await stack.owner.token.balanceOf(w(3).address)) as bigint;
    await run('docs/api/radiologist.md');
    const study = await stack.owner.market.getStudy(studyId);
    expect(Number(study.status)).toBe(5); // SETTLED
    expect(study.radiologist).toBe(w(3).address);
    expect((await stack.owner.token.balanceOf(w(3).address)) - tokensBefore).toBeGreaterThan(0n);
    expect(await stack.owner.market.balanceOf(w(3).address)).toBe(0n);
  });

  it('RO billing: onboard → fund → post with a real payload → ledger → reconciliation → CSV → statement', async () => {
    await mined(stack.owner.token.mint(w(2).address, 100_000n * USD)); // as npm start does
    await run('docs/api/ro-billing.md');
    // the admin onboarded #2; 1,000 tUSD deposited, 200 escrowed by the posting
    expect(await stack.owner.market.balanceOf(w(2).address)).toBe(800n * USD);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM study_payloads`);
    expect(rows[0].n).toBe(1);
  });

  it('DAO member: propose → vote → queue → execute → the worklist bounty changes', async () => {
    await verifyRadiologist3();
    await indexed(await postCaCtStudy(500n * USD));
    const before = (await stack.owner.parameters.baseBounty(modalityIndex('CT'))) as bigint;
    await run('docs/api/dao-member.md');
    expect(await stack.owner.parameters.baseBounty(modalityIndex('CT'))).toBe(before + 10n * USD);
  });

  it('treasury owner: propose → sign → execute a payout', async () => {
    await settleOneStudy();
    const fees = (await stack.owner.market.balanceOf(stack.deployment.treasury)) as bigint;
    const payeeBefore = (await stack.owner.token.balanceOf(w(0).address)) as bigint;
    await run('docs/api/treasury-owner.md');
    expect((await stack.owner.token.balanceOf(w(0).address)) - payeeBefore).toBe(fees / 2n);
    expect(await stack.owner.market.balanceOf(stack.deployment.treasury)).toBe(fees - fees / 2n);
  });

  it('verifier: a radiologist applies → the verifier approves on chain → the credential is active', async () => {
    await run('docs/api/verifier.md');
  });
});
