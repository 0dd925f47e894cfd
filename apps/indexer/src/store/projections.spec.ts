/**
 * The projections that issues 4, 6 and 7 added (governance proposals and votes, voting power, contract roles,
 * parameter history with the executing proposal, dispute resolution) under issue 5's set-based store:
 * one batch or one block at a time give the same tables, and a rollback to a block gives exactly the tables of
 * an index that never saw the later blocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { createDataSource, type BlockHeader, type ChainEvent } from '#db';
import { createTestDatabase } from '#db/testing';
import { EventStore, type StoreWriter } from './event-store.js';

const CHAIN = 31337;
const STREAM = 'projections-test';
const hex = (n: number | bigint, bytes: number) => '0x' + n.toString(16).padStart(bytes * 2, '0');
const addr = (n: number) => hex(0xa000 + n, 20);
const [MARKET, REGISTRY, PARAMETERS, GOVERNOR, TOKEN] = [1, 2, 3, 4, 5].map(addr);
const [RO, RAD, TREASURY, M1, M2, M3, VERIFIER_A, VERIFIER_B, ADMIN] = [10, 11, 12, 13, 14, 15, 16, 17, 18].map(addr);
const ROLE = hex(0x7e41f1e5n, 32);
const STUDY = hex(0x5717d1n, 32);
const P1 = (2n ** 200n + 1n).toString();
const P2 = (2n ** 201n + 7n).toString();
const ONE = (10n ** 18n).toString();

const header = (b: number): BlockHeader => ({
  blockNumber: b,
  blockHash: hex(b, 32),
  parentHash: hex(b - 1, 32),
  blockTime: 1_800_000_000 + b * 12,
});

/** Events of blocks 1..6, in chain order; `tx` groups logs of one transaction (same tx hash). */
function history(): ChainEvent[] {
  const out: ChainEvent[] = [];
  const per = new Map<number, number>();
  const log = (block: number, tx: number, contract: string, name: string, args: ChainEvent['args']) => {
    const logIndex = per.get(block) ?? 0;
    per.set(block, logIndex + 1);
    out.push({
      blockNumber: block,
      blockHash: hex(block, 32),
      blockTime: header(block).blockTime,
      txHash: hex(block * 100 + tx, 32),
      logIndex,
      contract,
      name,
      args,
    });
  };
  // block 1: defaults, a verifier, three members
  log(1, 0, PARAMETERS, 'ParameterUpdated', { name: 'feeBps', key: 0, value: '500' });
  log(1, 1, REGISTRY, 'RoleGranted', { role: ROLE, account: VERIFIER_A, sender: ADMIN });
  for (const [i, m] of [M1, M2, M3].entries())
    log(1, 2 + i, TOKEN, 'DelegateVotesChanged', { delegate: m, previousVotes: '0', newVotes: ONE });
  log(1, 5, MARKET, 'Deposited', { account: RO, amount: '1000000000' });
  // block 2: a proposal, a study
  const proposal = (id: string, proposer: string, description: string) => ({
    proposalId: id,
    proposer,
    targets: [PARAMETERS],
    values: ['0'],
    signatures: [''],
    calldatas: ['0xabcdef'],
    voteStart: 1_800_000_100,
    voteEnd: 1_800_000_200,
    description,
  });
  log(2, 0, GOVERNOR, 'ProposalCreated', proposal(P1, M1, 'Lower the fee to 7%'));
  log(2, 1, MARKET, 'StudyPosted', {
    studyId: STUDY,
    ro: RO,
    modality: 1,
    difficultyBps: 10_000,
    urgency: 0,
    patientState: 4,
    maxBounty: '100000000',
    postedAt: 1_800_000_024,
  });
  // block 3: votes, a late-quorum extension, a claim
  log(3, 0, GOVERNOR, 'VoteCast', { voter: M1, proposalId: P1, support: 1, weight: ONE, reason: 'fair' });
  log(3, 1, GOVERNOR, 'VoteCast', { voter: M2, proposalId: P1, support: 0, weight: ONE, reason: '' });
  log(3, 2, GOVERNOR, 'ProposalExtended', { proposalId: P1, extendedDeadline: 1_800_000_300 });
  log(3, 3, MARKET, 'StudyClaimed', {
    studyId: STUDY,
    ro: RO,
    radiologist: RAD,
    bounty: '40000000',
    feeBps: 500,
    leaseExpiresAt: 1_800_020_000,
  });
  // block 4 (the ancestor of the reorg below): more votes, queued, a report
  log(4, 0, GOVERNOR, 'VoteCast', { voter: M3, proposalId: P1, support: 1, weight: ONE, reason: '' });
  log(4, 1, GOVERNOR, 'ProposalQueued', { proposalId: P1, etaSeconds: 1_800_000_400 });
  log(4, 2, MARKET, 'ReportSubmitted', { studyId: STUDY, radiologist: RAD, reportHash: hex(0xbeefn, 32), disputeDeadline: 1_800_090_000 });
  // block 5: the execution changes the fee (same transaction), roles change, a member leaves, a second proposal, a dispute
  log(5, 0, PARAMETERS, 'ParameterUpdated', { name: 'feeBps', key: 0, value: '700' });
  log(5, 0, GOVERNOR, 'ProposalExecuted', { proposalId: P1 });
  log(5, 1, REGISTRY, 'RoleRevoked', { role: ROLE, account: VERIFIER_A, sender: ADMIN });
  log(5, 2, REGISTRY, 'RoleGranted', { role: ROLE, account: VERIFIER_B, sender: ADMIN });
  log(5, 3, TOKEN, 'DelegateVotesChanged', { delegate: M3, previousVotes: ONE, newVotes: '0' });
  log(5, 4, GOVERNOR, 'ProposalCreated', proposal(P2, M2, 'Raise the fee to 9%'));
  log(5, 5, GOVERNOR, 'VoteCast', { voter: M1, proposalId: P2, support: 2, weight: ONE, reason: 'unsure' });
  log(5, 6, MARKET, 'StudyDisputed', { studyId: STUDY, ro: RO });
  // block 6: the arbiter's split, the second proposal canceled, the verifier granted again
  log(6, 0, MARKET, 'DisputeResolved', {
    studyId: STUDY,
    ro: RO,
    radiologist: RAD,
    treasury: TREASURY,
    payout: '27900000',
    fee: '2100000',
    refund: '70000000',
  });
  log(6, 1, GOVERNOR, 'ProposalCanceled', { proposalId: P2 });
  log(6, 2, REGISTRY, 'RoleGranted', { role: ROLE, account: VERIFIER_A, sender: ADMIN });
  return out;
}

/** a table dump's row: the spec reads columns by name and compares values */
type Row = Record<string, unknown>;

async function tables(db: DataSource): Promise<Record<string, Row[]>> {
  const q = (sql: string) => db.query(sql);
  return {
    studies: await q(`SELECT * FROM studies ORDER BY study_id`),
    incentive_parameters: await q(`SELECT * FROM incentive_parameters ORDER BY name, key`),
    parameter_changes: await q(`SELECT * FROM parameter_changes ORDER BY block_number, log_index`),
    governance_proposals: await q(`SELECT * FROM governance_proposals ORDER BY proposal_id`),
    governance_votes: await q(`SELECT * FROM governance_votes ORDER BY proposal_id, voter`),
    dao_votes: await q(`SELECT * FROM dao_votes ORDER BY account`),
    contract_roles: await q(`SELECT * FROM contract_roles ORDER BY contract, role, account`),
    ledger_entries: await q(
      `SELECT chain_id, account, kind, amount, study_id, counterparty, tx_hash, log_index, block_number, block_time FROM ledger_entries
       ORDER BY block_number, log_index, kind, account`,
    ),
  };
}

describe('ported projections under the set-based store', () => {
  const dbs: { testDb: Awaited<ReturnType<typeof createTestDatabase>>; ds: DataSource; writer: StoreWriter }[] = [];
  const open = async () => {
    const testDb = await createTestDatabase();
    const ds = await createDataSource(testDb.url).initialize();
    const writer = (await new EventStore(ds).tryWriter(CHAIN, STREAM))!;
    dbs.push({ testDb, ds, writer });
    return { ds, writer };
  };
  const events = history();
  const upTo = (b: number) => events.filter((e) => e.blockNumber <= b);
  const blocks = (b: number) => Array.from({ length: b }, (_, i) => header(i + 1));
  let perBlock: Awaited<ReturnType<typeof open>>;
  let oneBatch: Awaited<ReturnType<typeof open>>;
  let fresh: Awaited<ReturnType<typeof open>>;

  beforeAll(async () => {
    [perBlock, oneBatch, fresh] = [await open(), await open(), await open()];
    for (let b = 1; b <= 6; b++)
      await perBlock.writer.storeBatch(
        events.filter((e) => e.blockNumber === b),
        header(b),
        { blocks: [header(b)] },
      );
    await oneBatch.writer.storeBatch(events, header(6), { blocks: blocks(6) });
    await fresh.writer.storeBatch(upTo(4), header(4), { blocks: blocks(4) });
  });
  afterAll(async () => {
    for (const { testDb, ds, writer } of dbs) {
      await writer.release();
      await ds.destroy();
      await testDb.drop();
    }
  });

  it('projects governance, roles, voting power, parameter history and dispute resolution', async () => {
    const t = await tables(perBlock.ds);
    const [p1, p2] = t.governance_proposals as Row[];
    expect([p1.proposal_id, p1.for_votes, p1.against_votes, p1.abstain_votes, p1.vote_end, p1.eta]).toEqual([
      P1,
      (2n * 10n ** 18n).toString(),
      ONE,
      '0',
      '1800000300',
      '1800000400',
    ]);
    expect(p1.executed_tx).toBe(hex(500, 32));
    expect([p2.proposal_id, p2.abstain_votes, p2.canceled_at === null]).toEqual([P2, ONE, false]);
    expect(p1.actions).toEqual([{ target: PARAMETERS, value: '0', calldata: '0xabcdef', signature: '' }]);
    expect((t.governance_votes as Row[]).map((v) => [v.proposal_id, v.voter, v.support, v.reason])).toEqual([
      [P1, M1, 1, 'fair'],
      [P1, M2, 0, ''],
      [P1, M3, 1, ''],
      [P2, M1, 2, 'unsure'],
    ]);
    expect((t.dao_votes as Row[]).map((v) => [v.account, v.votes])).toEqual([
      [M1, ONE],
      [M2, ONE],
      [M3, '0'],
    ]);
    expect((t.contract_roles as Row[]).map((r) => r.account)).toEqual([VERIFIER_A, VERIFIER_B]);
    // the execution's change names the proposal, the constructor default none
    expect((t.parameter_changes as Row[]).map((c) => [c.value, c.proposal_id])).toEqual([
      ['500', null],
      ['700', P1],
    ]);
    expect(t.incentive_parameters).toMatchObject([{ name: 'feeBps', value: '700' }]);
    expect(t.studies).toMatchObject([{ status: 'SETTLED', payout: '27900000', fee: '2100000', refund: '70000000' }]);
    expect((t.ledger_entries as Row[]).filter((l) => l.block_number === '6').map((l) => [l.kind, l.amount])).toEqual([
      ['FEE', '2100000'],
      ['PAYOUT', '27900000'],
      ['REFUND', '70000000'],
    ]);
  });

  it('gives the same tables whether the history comes in one batch or block by block', async () => {
    expect(await tables(oneBatch.ds)).toEqual(await tables(perBlock.ds));
  });

  it('rolls back to a block exactly: the tables of an index that never saw the later blocks', async () => {
    const before = await tables(fresh.ds);
    expect(before.governance_proposals).toHaveLength(1);
    for (const { writer } of [perBlock, oneBatch]) {
      const r = await writer.rollback(header(4));
      expect(r.removed).toBe(events.length - upTo(4).length);
    }
    expect(await tables(perBlock.ds)).toEqual(before);
    expect(await tables(oneBatch.ds)).toEqual(before);
    // and indexing the same blocks again arrives at the same end state as before the rollback
    for (let b = 5; b <= 6; b++)
      await perBlock.writer.storeBatch(
        events.filter((e) => e.blockNumber === b),
        header(b),
        { blocks: [header(b)] },
      );
    await fresh.writer.storeBatch(
      events.filter((e) => e.blockNumber > 4),
      header(6),
      { blocks: [header(5), header(6)] },
    );
    expect(await tables(perBlock.ds)).toEqual(await tables(fresh.ds));
    expect((await tables(fresh.ds)).parameter_changes).toMatchObject([{ proposal_id: null }, { proposal_id: P1 }]);
  });
});
