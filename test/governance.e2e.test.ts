import { mined, decodeThrownError } from '#chain';
import { increaseTime, devKey, DEV_ROLES } from '#devchain';
import { HDNodeWallet, Wallet, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBounty, modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { GqlClient, signPrepared } from './support/client.js';
import { subscribe } from './support/live.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const USD = 1_000_000n;
const VOTING_PERIOD = 60;
const TIMELOCK_DELAY = 30;
/** The DAO's members here (alice, bob, carol): accounts of their own, apart from the RO and the reader. */
const DAO = DEV_ROLES.spare.slice(0, 3);
const PROPOSAL_FIELDS = `id proposer description state forVotes againstVotes abstainVotes quorum voteStart voteEnd eta executedAt
  actions { target parameterChange { name key value } }`;

describe('DAO governance of the incentive parameters over GraphQL', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      governance: {
        members: DAO.map((i) => ({ address: devKey(i).address })),
        votingDelay: 1,
        votingPeriod: VOTING_PERIOD,
        lateQuorumExtension: 10,
        timelockDelay: TIMELOCK_DELAY,
        quorumPercent: 50,
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  // One proposal's life, in order: each step below continues from the one before (a journey, not independent
  // tests). The stack, the members' and the outsider's sessions are set up once, here.
  let provider: Stack['provider'];
  let owner: Stack['owner'];
  let alice: HDNodeWallet, bob: HDNodeWallet, carol: HDNodeWallet, ro: HDNodeWallet, reader: HDNodeWallet;
  let a: GqlClient, b: GqlClient, c: GqlClient, outsider: GqlClient;
  let proposal: { id: string; actions: { parameterChange: unknown }[] };
  const description = 'Fee 8 %, CT base bounty 50 tUSD';
  const propose = `mutation($c: [ParameterChangeInput!]!, $d: String!) {
      proposeParameterChange(changes: $c, description: $d) { from to data chainId gasLimit } }`;
  const signedIn = async (wallet: HDNodeWallet) => {
    const client = new GqlClient(stack.api);
    await client.signIn(wallet);
    return client;
  };
  beforeAll(async () => {
    ({ provider, owner } = stack);
    [alice, bob, carol] = DAO.map((i) => devWallet(i, provider));
    ro = devWallet(DEV_ROLES.roDepositor, provider);
    reader = devWallet(DEV_ROLES.radiologists[0], provider);
    [a, b, c, outsider] = await Promise.all([alice, bob, carol, reader].map(signedIn));
  });

  it('knows the deployed parameters and refuses a non-member and a value beyond the hard bound', async () => {
    const before = await waitFor('the deployment indexed', async () => {
      const d = await a.ok(`{ parameters { current { name key value } history { name value proposalId } } }`);
      return d.parameters.current.length ? d : null;
    });
    expect(before.parameters.current).toContainEqual({ name: 'feeBps', key: 0, value: '500' });
    expect(before.parameters.history.filter((h: { proposalId: string | null }) => h.proposalId !== null)).toEqual([]);

    // refused up front: not a member; a value beyond the hard bound
    expect(await outsider.code(propose, { c: [{ name: 'feeBps', value: '800' }], d: 'x' })).toBe('FORBIDDEN');
    // DAO_MEMBER once the indexer has seen alice's membership votes
    const beyond = await waitFor('alice indexed as a member', async () => {
      const r = await a.send(propose, { c: [{ name: 'feeBps', value: '1001' }], d: 'fee 10.01%' });
      return r.errors?.[0].extensions?.code === 'FORBIDDEN' ? null : r;
    });
    expect(beyond.errors?.[0].extensions).toMatchObject({ code: 'BAD_INPUT', reason: 'ParameterOutOfBounds' });
  });

  it('a member proposes a fee and CT-bounty change: she signs the prepared transaction, the API relays it', async () => {
    // alice proposes: fee 8 %, CT base bounty 50 tUSD; she signs the prepared transaction, the API relays it
    const { proposeParameterChange: tx } = await a.ok(propose, {
      c: [
        { name: 'feeBps', value: '800' },
        { name: 'baseBounty', key: modalityIndex('CT'), value: String(50n * USD) },
      ],
      d: description,
    });
    const relayed = await a.ok(`mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { function } }`, {
      tx: await signPrepared(alice, tx),
    });
    expect(relayed.relayTransaction.function).toBe('propose');
    proposal = await waitFor('the proposal indexed', async () => (await a.ok(`{ proposals { ${PROPOSAL_FIELDS} } }`)).proposals[0]);
    expect(proposal).toMatchObject({ proposer: alice.address.toLowerCase(), description, state: 'PENDING' });
    expect(proposal.actions.map((x: { parameterChange: unknown }) => x.parameterChange)).toEqual([
      { name: 'feeBps', key: 0, value: '800' },
      { name: 'baseBounty', key: 1, value: String(50n * USD) },
    ]);
    await increaseTime(provider, 2);
  });

  it('members vote by signed ballot, gaslessly; a second vote and an outsider are refused', async () => {
    // gasless votes: each member only signs an EIP-712 ballot; the service's relayer pays
    const vote = async (wallet: typeof alice, client: GqlClient, support: string) => {
      const { ballot } = await client.ok(`query($id: ID!, $s: VoteSupport!) { ballot(proposalId: $id, support: $s) { typedData } }`, {
        id: proposal.id,
        s: support,
      });
      const { domain, types, message } = ballot.typedData; // as the API gives it: ethers signs it directly
      const signature = await wallet.signTypedData(domain, types, message);
      return client.send(
        `mutation($id: ID!, $s: VoteSupport!, $sig: String!) { castVote(proposalId: $id, support: $s, signature: $sig) { txHash function } }`,
        {
          id: proposal.id,
          s: support,
          sig: signature,
        },
      );
    };
    const ethBefore = await Promise.all([alice, bob, carol].map((w) => provider.getBalance(w.address)));
    expect((await vote(alice, a, 'FOR')).errors).toBeUndefined();
    expect((await vote(bob, b, 'FOR')).errors).toBeUndefined();
    expect((await vote(bob, b, 'AGAINST')).errors?.[0].extensions?.code).toBe('CONFLICT'); // already voted
    expect((await vote(carol, c, 'AGAINST')).data?.castVote.function).toBe('castVoteBySig');
    expect(
      await outsider.code(`mutation($id: ID!) { castVote(proposalId: $id, support: FOR, signature: "0x${'11'.repeat(65)}") { txHash } }`, {
        id: proposal.id,
      }),
    ).toBe('FORBIDDEN');
    expect(await Promise.all([alice, bob, carol].map((w) => provider.getBalance(w.address)))).toEqual(ethBefore);

    const voted = await waitFor('the votes indexed', async () => {
      const p = (await a.ok(`{ proposal(id: "${proposal.id}") { ${PROPOSAL_FIELDS} } }`)).proposal;
      return p.againstVotes !== '0' ? p : null;
    });
    expect(voted).toMatchObject({
      state: 'ACTIVE',
      forVotes: String(2n * 10n ** 18n),
      againstVotes: String(10n ** 18n),
      quorum: String(15n * 10n ** 17n),
    });
  });

  it('queues when due, executes only after the timelock, indexes the new parameters and tells the live worklist', async () => {
    // a radiologist watching the live worklist hears about the change once it is executed and indexed
    const watcher = Wallet.createRandom();
    const watchExpiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await mined(owner.registry.attest(watcher.address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), watchExpiry));
    const w = new GqlClient(stack.api);
    await w.signIn(watcher);
    await waitFor('the watcher credential indexed', async () => !(await w.send(`{ myClaims(first: 1) { id } }`)).errors);
    const live = await subscribe(stack.api, w.token!, `subscription { worklistEvents { kind asOf study { id } } }`);

    // queue when due; execute only after the timelock delay
    const queue = `mutation($id: ID!) { queueProposal(proposalId: $id) { function } }`;
    const execute = `mutation($id: ID!) { executeProposal(proposalId: $id) { function } }`;
    expect(await a.code(queue, { id: proposal.id })).toBe('CONFLICT'); // still voting
    await increaseTime(provider, VOTING_PERIOD + 1);
    expect((await a.ok(`{ proposal(id: "${proposal.id}") { state } }`)).proposal.state).toBe('SUCCEEDED');
    await b.ok(queue, { id: proposal.id });
    const queued = await waitFor('the queue indexed', async () => {
      const p = (await a.ok(`{ proposal(id: "${proposal.id}") { state eta } }`)).proposal;
      return p.eta ? p : null;
    });
    expect(queued.state).toBe('QUEUED');
    const early = await a.send(execute, { id: proposal.id });
    expect(early.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'TimelockUnexpectedOperationState' });
    expect(await owner.parameters.feeBps()).toBe(500n);
    await increaseTime(provider, TIMELOCK_DELAY);
    await c.ok(execute, { id: proposal.id });
    expect(await owner.parameters.feeBps()).toBe(800n);

    const after = await waitFor('the new parameters indexed', async () => {
      const d = await a.ok(
        `{ parameters(historyFirst: 5) { current { name key value } history { name key value proposalId proposalDescription } } }`,
      );
      return d.parameters.current.some((p: { name: string; value: string }) => p.name === 'feeBps' && p.value === '800')
        ? d.parameters
        : null;
    });
    expect(after.history.slice(0, 2)).toEqual([
      { name: 'baseBounty', key: 1, value: String(50n * USD), proposalId: proposal.id, proposalDescription: description },
      { name: 'feeBps', key: 0, value: '800', proposalId: proposal.id, proposalDescription: description },
    ]);
    expect((await a.ok(`{ proposal(id: "${proposal.id}") { state executedAt } }`)).proposal).toMatchObject({ state: 'EXECUTED' });
    expect((await live.next()).data?.worklistEvents).toMatchObject({ kind: 'PARAMETERS_CHANGED', study: null });
    await live.close();
  });

  it('the next posted CT study is offered at the new base bounty, and its claim snapshots the new fee', async () => {
    // the next posted CT study's bounty in the worklist uses the new base bounty; its claim snapshots the new fee
    await mined(owner.token.mint(ro.address, 1_000n * USD));
    await mined((owner.token.connect(ro) as typeof owner.token).approve(stack.deployment.market, 1_000n * USD));
    const market = owner.market.connect(ro) as typeof owner.market;
    await mined(market.deposit(1_000n * USD));
    const studyId = hexlify(randomBytes(32));
    await mined(
      market.postStudy(
        studyId,
        modalityIndex('CT'),
        10_000,
        urgencyIndex('ROUTINE'),
        stateIndex('CA'),
        500n * USD,
        ...stack.issued(ro.address, studyId),
      ),
    );
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await mined(owner.registry.attest(reader.address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
    // FORBIDDEN until the indexer has seen the credential, then the study shows up
    const item = await waitFor(
      'the study in the worklist',
      async () => (await outsider.send(`{ worklist { items { id currentBounty } } }`)).data?.worklist.items[0],
    );
    expect(item.id).toBe(studyId);
    expect(BigInt(item.currentBounty)).toBe(
      computeBounty({
        base: 50n * USD,
        difficultyBps: 10_000n,
        urgencyBps: 10_000n,
        escalationBpsPerHour: 500n,
        waitingSeconds: 0n,
        maxBounty: 500n * USD,
      }),
    );
    expect(BigInt(item.currentBounty)).toBe(50n * USD);
    const { claimStudy } = await outsider.ok(`mutation($id: ID!) { claimStudy(studyId: $id) { from to data chainId gasLimit } }`, {
      id: studyId,
    });
    await outsider.ok(`mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash } }`, {
      tx: await signPrepared(reader, claimStudy),
    });
    expect((await owner.market.getStudy(studyId)).feeBps).toBe(800n);
  });

  it('outside governance the old owner can change nothing, with a clear custom error', async () => {
    // outside governance: the old owner cannot change anything, with a clear custom error
    let thrown: unknown;
    try {
      await owner.parameters.setFeeBps(100);
    } catch (e) {
      thrown = e;
    }
    expect(decodeThrownError(thrown)).toMatchObject({ name: 'OwnableUnauthorizedAccount' });
    // nor appoint a verifier: the registry's admin is the timelock
    thrown = undefined;
    try {
      await owner.registry.grantRole(await owner.registry.VERIFIER_ROLE(), reader.address);
    } catch (e) {
      thrown = e;
    }
    expect(decodeThrownError(thrown)).toMatchObject({ name: 'AccessControlUnauthorizedAccount' });
    expect(await owner.registry.hasRole(await owner.registry.VERIFIER_ROLE(), reader.address)).toBe(false);
  });
});
