/**
 * DAO governance: membership token, governor and timelock deployed by deployGovernance over a fresh deployment.
 * Nothing changes the incentive parameters except an executed proposal, and not even that beyond the hard bounds.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Contract, ZeroHash, encodeBytes32String, id as keccakId, type HDNodeWallet } from 'ethers';
import { PROPOSAL_STATES, VOTE_SUPPORT, descriptionHash, loadArtifact, parameterProposal, signBallot, type ParameterChange } from '#chain';
import {
  deployGovernance,
  governanceContracts,
  increaseTime,
  revert,
  snapshot,
  type GovernanceContracts,
  type GovernanceDeployment,
} from '#devchain';
import { USD, eventsOf, expectError, send, startWorld, type World } from './fixture.js';

const VOTING_DELAY = 1;
const VOTING_PERIOD = 300;
const LATE_QUORUM = 100;
const TIMELOCK_DELAY = 600;
const MEMBER = 10n ** 18n;

let w: World;
let g: GovernanceDeployment;
let dao: GovernanceContracts;
let members: HDNodeWallet[];
let relayer: HDNodeWallet, outsider: HDNodeWallet;
let snap: string;

beforeAll(async () => {
  w = await startWorld();
  members = w.wallets.slice(2, 7);
  [relayer, outsider] = [w.wallets[7], w.wallets[8]];
  g = await deployGovernance(w.owner, w.deployment, {
    members: members.map((m) => ({ address: m.address })),
    votingDelay: VOTING_DELAY,
    votingPeriod: VOTING_PERIOD,
    lateQuorumExtension: LATE_QUORUM,
    timelockDelay: TIMELOCK_DELAY,
    quorumPercent: 40, // 2 of 5 members
    arbiter: w.wallets[1].address,
  });
  dao = governanceContracts(g, w.owner);
  // votes count from the second after admission (getPastVotes at clock() - 1): let a second pass
  await increaseTime(w.provider, 1);
});
afterAll(async () => {
  await w?.anvil.stop();
});
beforeEach(async () => {
  snap = await snapshot(w.provider);
});
afterEach(async () => {
  await revert(w.provider, snap);
});

const governorAs = (x: HDNodeWallet) => governanceContracts(g, x).governor;
const state = async (id: bigint) => PROPOSAL_STATES[Number(await dao.governor.state(id))];

async function propose(by: HDNodeWallet, changes: ParameterChange[], description: string) {
  const p = parameterProposal(w.deployment.parameters, changes);
  const r = await send(governorAs(by).propose(p.targets, p.values, p.calldatas, description));
  const id = eventsOfGovernor(r, 'ProposalCreated')[0].args.proposalId as bigint;
  await increaseTime(w.provider, VOTING_DELAY + 1);
  return { ...p, id, descriptionHash: descriptionHash(description) };
}

function eventsOfGovernor(receipt: Awaited<ReturnType<typeof send>>, name: string) {
  return receipt.logs
    .filter((l) => l.address.toLowerCase() === g.governor.toLowerCase())
    .map((l) => dao.governor.interface.parseLog(l))
    .filter((p) => p?.name === name) as { args: Record<string, unknown> }[];
}

const ballot = (voter: HDNodeWallet, proposalId: bigint, support: number) =>
  signBallot(voter, dao.governor, w.deployment.chainId, proposalId, support);

async function passAndQueue(changes: ParameterChange[], description: string) {
  const p = await propose(members[0], changes, description);
  for (const m of members.slice(0, 3)) await send(governorAs(m).castVote(p.id, VOTE_SUPPORT.FOR));
  await increaseTime(w.provider, VOTING_PERIOD + 1);
  expect(await state(p.id)).toBe('SUCCEEDED');
  await send(dao.governor.queue(p.targets, p.values, p.calldatas, p.descriptionHash));
  return p;
}

describe('governance hand-over', () => {
  it('makes the timelock the owner of parameters, market and membership, so the old owner can change nothing', async () => {
    for (const c of [w.c.parameters, w.c.market, dao.membership]) expect(await c.owner()).toBe(g.timelock);
    const old = w.owner.address;
    await expectError(w.c.parameters.setFeeBps(100), 'OwnableUnauthorizedAccount', [old]);
    await expectError(w.c.parameters.setBaseBounty(1, 1n), 'OwnableUnauthorizedAccount', [old]);
    await expectError(w.c.market.setTreasury(old), 'OwnableUnauthorizedAccount', [old]);
    await expectError(w.c.market.setArbiter(old), 'OwnableUnauthorizedAccount', [old]);
    await expectError(w.c.market.transferOwnership(old), 'OwnableUnauthorizedAccount', [old]);
    await expectError(dao.membership.mint(old, MEMBER), 'OwnableUnauthorizedAccount', [old]);
    for (const role of ['PROPOSER_ROLE', 'EXECUTOR_ROLE', 'CANCELLER_ROLE', 'DEFAULT_ADMIN_ROLE']) {
      expect(await dao.timelock.hasRole(await dao.timelock[role](), old), role).toBe(false);
    }
    for (const role of ['PROPOSER_ROLE', 'EXECUTOR_ROLE', 'CANCELLER_ROLE']) {
      expect(await dao.timelock.hasRole(await dao.timelock[role](), g.governor), role).toBe(true);
    }
    const proposerRole = await dao.timelock.PROPOSER_ROLE();
    await expectError(
      dao.timelock.schedule(w.deployment.parameters, 0, '0x', ZeroHash, ZeroHash, TIMELOCK_DELAY),
      'AccessControlUnauthorizedAccount',
      [old, proposerRole],
    );
    expect(await dao.timelock.getMinDelay()).toBe(BigInt(TIMELOCK_DELAY));
    expect(await w.c.market.arbiter()).toBe(w.wallets[1].address);
    expect(await dao.governor.CLOCK_MODE()).toBe('mode=timestamp');
  });

  it('makes the timelock the admin of the registry and the anchor: the old admin can appoint no verifier or anchorer', async () => {
    const old = w.owner.address;
    const anchor = new Contract(w.deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, w.owner);
    for (const c of [w.c.registry, anchor]) {
      expect(await c.hasRole(ZeroHash, g.timelock)).toBe(true);
      expect(await c.hasRole(ZeroHash, old)).toBe(false);
    }
    await expectError(w.c.registry.grantRole(keccakId('VERIFIER_ROLE'), outsider.address), 'AccessControlUnauthorizedAccount', [
      old,
      ZeroHash,
    ]);
    await expectError(anchor.grantRole(keccakId('ANCHORER_ROLE'), outsider.address), 'AccessControlUnauthorizedAccount', [old, ZeroHash]);
    await expectError(w.c.registry.grantRole(ZeroHash, old), 'AccessControlUnauthorizedAccount', [old, ZeroHash]);
    // a verifier appointed before the hand-over keeps its role (and gains no admin power)
    expect(await w.c.registry.hasRole(keccakId('VERIFIER_ROLE'), w.verifier.address)).toBe(true);
  });

  it('lets a proposal appoint a verifier through the timelock', async () => {
    const description = 'verifier: outsider';
    const data = w.c.registry.interface.encodeFunctionData('grantRole', [keccakId('VERIFIER_ROLE'), outsider.address]);
    const r = await send(governorAs(members[0]).propose([w.deployment.registry], [0n], [data], description));
    const pid = eventsOfGovernor(r, 'ProposalCreated')[0].args.proposalId as bigint;
    await increaseTime(w.provider, VOTING_DELAY + 1);
    for (const m of members.slice(0, 2)) await send(governorAs(m).castVote(pid, VOTE_SUPPORT.FOR));
    await increaseTime(w.provider, VOTING_PERIOD + 1);
    await send(dao.governor.queue([w.deployment.registry], [0n], [data], descriptionHash(description)));
    await increaseTime(w.provider, TIMELOCK_DELAY);
    await send(dao.governor.execute([w.deployment.registry], [0n], [data], descriptionHash(description)));
    expect(await w.c.registry.hasRole(keccakId('VERIFIER_ROLE'), outsider.address)).toBe(true);
  });

  it('keeps membership non-transferable, with each member self-delegated at admission', async () => {
    const [a, b] = members;
    expect(await dao.membership.getVotes(a.address)).toBe(MEMBER);
    expect(await dao.membership.delegates(a.address)).toBe(a.address);
    const asA = governanceContracts(g, a).membership;
    await expectError(asA.transfer(b.address, 1n), 'MembershipNonTransferable');
    await send(asA.approve(b.address, MEMBER));
    await expectError(governanceContracts(g, b).membership.transferFrom(a.address, outsider.address, 1n), 'MembershipNonTransferable');
    // delegation is allowed: a representative may vote for a member
    await send(asA.delegate(b.address, { gasLimit: 300_000 })); // checkpoint cost depends on the block time: no tight estimate
    expect(await dao.membership.getVotes(b.address)).toBe(2n * MEMBER);
  });
});

describe('parameter change by proposal', () => {
  it('changes the fee only after a proposal passes (votes, including a relayed EIP-712 ballot), is queued and waits the timelock', async () => {
    const p = await propose(
      members[0],
      [
        { name: 'feeBps', value: 800n },
        { name: 'baseBounty', key: 1, value: 50n * USD },
      ],
      'fee 8%, CT 50',
    );
    expect(await state(p.id)).toBe('ACTIVE');
    await send(governorAs(members[0]).castVote(p.id, VOTE_SUPPORT.FOR));
    // gasless: members[1] only signs; the relayer (not a member) pays for the transaction
    const sig = await ballot(members[1], p.id, VOTE_SUPPORT.FOR);
    const r = await send(governorAs(relayer).castVoteBySig(p.id, VOTE_SUPPORT.FOR, members[1].address, sig));
    const vote = eventsOfGovernor(r, 'VoteCast')[0].args;
    expect([vote.voter, vote.support, vote.weight]).toEqual([members[1].address, 1n, MEMBER]);
    await expectError(governorAs(relayer).castVoteBySig(p.id, VOTE_SUPPORT.FOR, members[1].address, sig), 'GovernorInvalidSignature', [
      members[1].address,
    ]);
    // a signature for someone else's vote does not count
    const forged = await ballot(members[2], p.id, VOTE_SUPPORT.AGAINST);
    await expectError(
      governorAs(relayer).castVoteBySig(p.id, VOTE_SUPPORT.AGAINST, members[3].address, forged),
      'GovernorInvalidSignature',
      [members[3].address],
    );
    await send(governorAs(members[2]).castVote(p.id, VOTE_SUPPORT.AGAINST));
    await expectError(governorAs(members[0]).castVote(p.id, VOTE_SUPPORT.AGAINST), 'GovernorAlreadyCastVote', [members[0].address]);
    expect(await dao.governor.proposalVotes(p.id)).toEqual([MEMBER, 2n * MEMBER, 0n]);

    await expectError(dao.governor.queue(p.targets, p.values, p.calldatas, p.descriptionHash), 'GovernorUnexpectedProposalState');
    await increaseTime(w.provider, VOTING_PERIOD + 1);
    expect(await state(p.id)).toBe('SUCCEEDED');
    await send(governorAs(outsider).queue(p.targets, p.values, p.calldatas, p.descriptionHash));
    expect(await state(p.id)).toBe('QUEUED');
    await expectError(dao.governor.execute(p.targets, p.values, p.calldatas, p.descriptionHash), 'TimelockUnexpectedOperationState');
    expect(await w.c.parameters.feeBps()).toBe(500n);

    await increaseTime(w.provider, TIMELOCK_DELAY);
    const ex = await send(governorAs(outsider).execute(p.targets, p.values, p.calldatas, p.descriptionHash));
    expect(await state(p.id)).toBe('EXECUTED');
    expect(await w.c.parameters.feeBps()).toBe(800n);
    expect(await w.c.parameters.baseBounty(1)).toBe(50n * USD);
    expect(eventsOf(w.c, ex, 'ParameterUpdated').map((e) => [e.args.name, e.args.value])).toEqual([
      [encodeBytes32String('feeBps'), 800n],
      [encodeBytes32String('baseBounty'), 50n * USD],
    ]);
  });

  it('cannot exceed a hard bound even with a passed proposal: execution reverts with ParameterOutOfBounds', async () => {
    const p = await passAndQueue([{ name: 'feeBps', value: 1001n }], 'fee 10.01%');
    await increaseTime(w.provider, TIMELOCK_DELAY);
    await expectError(dao.governor.execute(p.targets, p.values, p.calldatas, p.descriptionHash), 'ParameterOutOfBounds', [
      encodeBytes32String('feeBps'),
      1001n,
    ]);
    expect(await w.c.parameters.feeBps()).toBe(500n);
    expect(await state(p.id)).toBe('QUEUED');
  });

  it('lets a proposal appoint the dispute arbiter through the timelock', async () => {
    const description = 'arbiter: outsider';
    const data = w.c.market.interface.encodeFunctionData('setArbiter', [outsider.address]);
    const r = await send(governorAs(members[0]).propose([w.deployment.market], [0n], [data], description));
    const id = eventsOfGovernor(r, 'ProposalCreated')[0].args.proposalId as bigint;
    await increaseTime(w.provider, VOTING_DELAY + 1);
    for (const m of members.slice(0, 2)) await send(governorAs(m).castVote(id, VOTE_SUPPORT.FOR));
    await increaseTime(w.provider, VOTING_PERIOD + 1);
    await send(dao.governor.queue([w.deployment.market], [0n], [data], descriptionHash(description)));
    await increaseTime(w.provider, TIMELOCK_DELAY);
    await send(dao.governor.execute([w.deployment.market], [0n], [data], descriptionHash(description)));
    expect(await w.c.market.arbiter()).toBe(outsider.address);
  });

  it('refuses proposals from non-members and defeats proposals that miss quorum', async () => {
    const p = parameterProposal(w.deployment.parameters, [{ name: 'feeBps', value: 0n }]);
    await expectError(governorAs(outsider).propose(p.targets, p.values, p.calldatas, 'zero fee'), 'GovernorInsufficientProposerVotes', [
      outsider.address,
      0n,
      MEMBER,
    ]);
    const q = await propose(members[0], [{ name: 'feeBps', value: 0n }], 'zero fee');
    await send(governorAs(members[0]).castVote(q.id, VOTE_SUPPORT.FOR)); // 1 of the 2 needed
    await increaseTime(w.provider, VOTING_PERIOD + 1);
    expect(await state(q.id)).toBe('DEFEATED');
    await expectError(dao.governor.queue(q.targets, q.values, q.calldatas, q.descriptionHash), 'GovernorUnexpectedProposalState');
  });

  it('extends the deadline when quorum is reached late, so the others can still react', async () => {
    const p = await propose(members[0], [{ name: 'leaseDuration', value: 2n * 3600n }], 'lease 2h');
    const deadline = (await dao.governor.proposalDeadline(p.id)) as bigint;
    await send(governorAs(members[0]).castVote(p.id, VOTE_SUPPORT.FOR));
    await increaseTime(w.provider, VOTING_PERIOD - 20);
    const r = await send(governorAs(members[1]).castVote(p.id, VOTE_SUPPORT.FOR)); // quorum reached in the last seconds
    const ext = eventsOfGovernor(r, 'ProposalExtended')[0].args;
    const at = BigInt((await w.provider.getBlock(r.blockNumber))!.timestamp);
    expect(ext.extendedDeadline).toBe(at + BigInt(LATE_QUORUM));
    expect((await dao.governor.proposalDeadline(p.id)) as bigint).toBeGreaterThan(deadline);
    await increaseTime(w.provider, 30);
    expect(await state(p.id)).toBe('ACTIVE'); // past the original deadline, still open
    for (const m of members.slice(2, 5)) await send(governorAs(m).castVote(p.id, VOTE_SUPPORT.AGAINST));
    await increaseTime(w.provider, LATE_QUORUM);
    expect(await state(p.id)).toBe('DEFEATED');
  });
});
