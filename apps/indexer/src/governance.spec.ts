/**
 * The indexer on governance: a real chain with the DAO, proposals voted (one ballot relayed by signature),
 * queued, executed or canceled; the pipeline stores them and the parameter history names the proposal.
 */
import { mined, issuanceArgs, issueStudyId, VOTE_SUPPORT, createProvider, descriptionHash, parameterProposal, signBallot } from '#chain';
import {
  ANVIL_MNEMONIC,
  contracts,
  deployGovernance,
  deployOpenRead,
  governanceContracts,
  increaseTime,
  startAnvil,
  type AnvilHandle,
  type GovernanceDeployment,
} from '#devchain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HDNodeWallet, Mnemonic, id as keccakId, type JsonRpcProvider } from 'ethers';
import { DataSource } from 'typeorm';
import { parseConfig } from '#config';
import { EventStore } from './store/event-store.js';
import { GovernanceRepository, createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { IndexerPipeline } from './pipeline.js';

let anvil: AnvilHandle;
let provider: JsonRpcProvider;
let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let db: DataSource;
let g: GovernanceDeployment;
let chainId: number;
const DISPUTED = keccakId('disputed-study');

const wallet = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${i}`).connect(provider);

beforeAll(async () => {
  anvil = await startAnvil();
  provider = createProvider(anvil.rpcUrl);
  const deployment = await deployOpenRead(wallet(0), { treasury: wallet(1).address, studyIdIssuer: wallet(11).address });
  chainId = deployment.chainId;
  // before the hand-over: afterwards only a proposal appoints a verifier
  await mined(contracts(deployment, wallet(0)).registry.grantRole(keccakId('VERIFIER_ROLE'), wallet(0).address));
  g = await deployGovernance(wallet(0), deployment, {
    members: [2, 3, 4].map((i) => ({ address: wallet(i).address })),
    votingDelay: 10,
    votingPeriod: 100,
    timelockDelay: 50,
    quorumPercent: 50,
    arbiter: wallet(1).address,
  });
  await increaseTime(provider, 1);
  const [m0, m1, m2, relayer] = [wallet(2), wallet(3), wallet(4), wallet(8)];
  const gov = (w: HDNodeWallet) => governanceContracts(g, w).governor;

  // proposal 1: fee 7%, passed (one vote by signature), queued, executed
  const p = parameterProposal(deployment.parameters, [{ name: 'feeBps', value: 700n }]);
  const d1 = 'Lower the protocol fee to 7%';
  await mined(gov(m0).propose(p.targets, p.values, p.calldatas, d1));
  const id1 = await gov(m0).hashProposal(p.targets, p.values, p.calldatas, descriptionHash(d1));
  await increaseTime(provider, 11);
  await mined(gov(m0).castVoteWithReason(id1, VOTE_SUPPORT.FOR, 'fair'));
  const sig = await signBallot(m1, gov(m1), chainId, id1, VOTE_SUPPORT.FOR);
  await mined(gov(relayer).castVoteBySig(id1, VOTE_SUPPORT.FOR, m1.address, sig));
  await mined(gov(m2).castVote(id1, VOTE_SUPPORT.AGAINST));
  await increaseTime(provider, 101);
  await mined(gov(relayer).queue(p.targets, p.values, p.calldatas, descriptionHash(d1)));
  await increaseTime(provider, 51);
  await mined(gov(relayer).execute(p.targets, p.values, p.calldatas, descriptionHash(d1)));

  // proposal 2: canceled by its proposer before voting starts
  const d2 = 'Raise the fee to 9%';
  const q = parameterProposal(deployment.parameters, [{ name: 'feeBps', value: 900n }]);
  await mined(gov(m1).propose(q.targets, q.values, q.calldatas, d2));
  await mined(gov(m1).cancel(q.targets, q.values, q.calldatas, descriptionHash(d2)));

  // a disputed study, resolved by the arbiter: 30 of the locked bounty to the radiologist, the rest refunded
  const c = (x: HDNodeWallet) => contracts(deployment, x);
  const [ro, rad] = [wallet(5), wallet(6)];
  await mined(c(wallet(0)).registry.attest(rad.address, (1n << 51n) - 1n, (1n << 7n) - 1n, 4_000_000_000n));
  await mined(c(wallet(0)).token.mint(ro.address, 100_000_000n));
  await mined(c(ro).token.approve(deployment.market, 100_000_000n));
  await mined(c(ro).market.deposit(100_000_000n));
  await mined(
    c(ro).market.postStudy(
      DISPUTED,
      1,
      10000,
      0,
      4,
      100_000_000n,
      ...issuanceArgs(issueStudyId(wallet(11).privateKey, deployment.market, chainId, ro.address, DISPUTED, 4_000_000_000n)),
    ),
  );
  await mined(c(rad).market.claim(DISPUTED));
  await mined(c(rad).market.submitReport(DISPUTED, keccakId('report')));
  await mined(c(ro).market.dispute(DISPUTED));
  await mined(c(wallet(1)).market.resolveDispute(DISPUTED, 30_000_000n));

  testDb = await createTestDatabase();
  db = await createDataSource(testDb.url).initialize();
  const config = parseConfig({
    databaseUrl: testDb.url,
    rpcUrl: anvil.rpcUrl,
    chainId,
    contracts: { ...deployment, governor: g.governor, timelock: g.timelock, membership: g.membership },
    api: { siweDomain: 'x.test', siweUri: 'https://x.test' },
    indexer: { batchBlocks: 7 }, // several batches
    settler: {},
    bus: {},
  });
  const store = new EventStore(db);
  const pipeline = new IndexerPipeline(config, store);
  const writer = (await store.tryWriter(chainId, pipeline.stream))!;
  try {
    for (let i = 0; i < 100 && !(await pipeline.step(writer)).caughtUp; i++);
  } finally {
    await writer.release();
  }
});

afterAll(async () => {
  await db?.destroy();
  await testDb?.drop();
  provider?.destroy();
  await anvil?.stop();
});

describe('governance indexing', () => {
  it('stores proposals with their votes, eta, execution and cancellation', async () => {
    const repo = new GovernanceRepository(db);
    const [canceled, executed] = await repo.proposals(chainId, g.governor.toLowerCase(), 10);
    expect(canceled.description).toBe('Raise the fee to 9%');
    expect(canceled.canceledAt).not.toBeNull();
    expect(canceled.executedAt).toBeNull();
    expect(executed.description).toBe('Lower the protocol fee to 7%');
    expect(executed.proposer).toBe(wallet(2).address.toLowerCase());
    expect([executed.forVotes, executed.againstVotes, executed.abstainVotes]).toEqual([2n * 10n ** 18n, 10n ** 18n, 0n]);
    expect(executed.eta).toBeGreaterThan(executed.voteEnd);
    expect(executed.executedAt).toBeGreaterThanOrEqual(executed.eta!);
    expect(executed.actions).toHaveLength(1);
    expect(executed.actions[0].target).toBe(
      (await repo.proposal(chainId, g.governor.toLowerCase(), executed.proposalId))!.actions[0].target,
    );
    const votes = await db.query(`SELECT voter, support, reason FROM governance_votes WHERE proposal_id = $1 ORDER BY block_number`, [
      executed.proposalId,
    ]);
    expect(votes.map((v: { voter: string; support: number; reason: string }) => [v.voter, v.support, v.reason])).toEqual([
      [wallet(2).address.toLowerCase(), 1, 'fair'],
      [wallet(3).address.toLowerCase(), 1, ''],
      [wallet(4).address.toLowerCase(), 0, ''],
    ]);
  });

  it('keeps the parameter history with the proposal whose execution changed each value', async () => {
    const repo = new GovernanceRepository(db);
    const fee = await repo.parameterHistory(chainId, 10, 'feeBps');
    expect(fee.map((c) => [c.value, c.proposalDescription])).toEqual([
      [700n, 'Lower the protocol fee to 7%'],
      [500n, null], // the constructor's default
    ]);
    const all = await repo.parameterHistory(chainId, 100);
    expect(all).toHaveLength(15); // 14 defaults + 1 change
    const [current] = await db.query(`SELECT value FROM incentive_parameters WHERE name = 'feeBps'`);
    expect(current.value).toBe('700');
  });

  it('projects a dispute resolved by the arbiter as a settled study with its split, in the RO ledger', async () => {
    const [study] = await db.query(`SELECT status, payout, fee, refund FROM studies WHERE study_id = $1`, [DISPUTED]);
    // 30 tUSD awarded; the fee snapshotted at claim is the 7 % that proposal 1 set; 100 − 30 refunded
    expect(study).toEqual({ status: 'SETTLED', payout: '27900000', fee: '2100000', refund: '70000000' });
    const ledger = await db.query(
      `SELECT kind, amount FROM ledger_entries WHERE study_id = $1 AND kind IN ('DISPUTE', 'PAYOUT', 'FEE', 'REFUND') ORDER BY block_number, kind`,
      [DISPUTED],
    );
    expect(ledger.map((l: { kind: string; amount: string }) => [l.kind, l.amount])).toEqual([
      ['DISPUTE', '40000000'],
      ['FEE', '2100000'],
      ['PAYOUT', '27900000'],
      ['REFUND', '70000000'],
    ]);
  });
});
