import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { Contract, Interface, keccak256 } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import {
  loadArtifact,
  BALLOT_TYPES,
  PARAMETER_SETTERS,
  PROPOSAL_STATES,
  descriptionHash,
  governorDomain,
  type ParameterChange,
  type ParameterName,
} from '#chain';
import { ProposalRow } from '#db';
import { ChainService } from '../chain/index.js';
import { onChain } from '../common/chain-errors.js';
import { OpenReadError } from '../common/errors.js';
import { typedDataShapes } from '../common/graphql/typed-data.js';
import { TransactionOutbox } from '../relay/index.js';

/**
 * The DAO on chain: parameter-change checks, ballots, and the governance relayer key's gasless votes
 * (castVoteBySig), queue and execute, sent through the transaction outbox. The relayer pays gas only; a vote counts
 * for whoever signed it.
 */
@Injectable()
export class GovernanceService implements OnModuleInit {
  readonly governorInterface = new Interface(loadArtifact('OpenReadGovernor').abi);
  readonly parametersInterface = new Interface(loadArtifact('IncentiveParameters').abi);
  private governor: Contract | null = null;
  /** the governance relayer key's address (the sender of its outbox rows) */
  private relayer: string | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly chain: ChainService,
    private readonly transactions: TransactionOutbox,
  ) {}

  onModuleInit(): void {
    const { governor } = this.config.contracts;
    if (!governor) return;
    this.governor = new Contract(governor, this.governorInterface, this.chain.provider);
    this.relayer = this.transactions.keyAddress(this.config.governance.relayerPrivateKey);
    this.chain.allowRelay('governor', governor, this.governorInterface, { propose: 'DAO_MEMBER' });
  }

  get governorAddress(): string {
    return this.dao().governor.target as string;
  }

  private dao(): { governor: Contract } {
    if (!this.governor) throw new OpenReadError('NOT_FOUND', 'no DAO governor is configured for this deployment');
    return { governor: this.governor };
  }

  /** Refuses changes the parameters contract would refuse, by simulating each setter as the timelock (its owner). */
  async checkParameterChanges(changes: ParameterChange[], calldatas: string[]): Promise<void> {
    const timelock = this.config.contracts.timelock;
    if (!timelock) throw new OpenReadError('NOT_FOUND', 'no DAO timelock is configured for this deployment');
    for (const [i, data] of calldatas.entries()) {
      try {
        await this.chain.simulate({ from: timelock, to: this.config.contracts.parameters, data });
      } catch (e) {
        if (e instanceof OpenReadError && e.code !== 'CHAIN_UNAVAILABLE') {
          throw new OpenReadError('BAD_INPUT', `${changes[i].name}: ${e.message}`, e.details);
        }
        throw e;
      }
    }
  }

  async prepareProposal(from: string, targets: string[], values: bigint[], calldatas: string[], description: string) {
    return this.chain.prepare(from, 'propose', [targets, values, calldatas, description], {
      to: this.governorAddress,
      iface: this.governorInterface,
    });
  }

  /** Live state and quorum of a proposal (both depend on time, so they come from the governor, not the index). */
  async liveStatus(p: ProposalRow): Promise<{ state: string; quorum: bigint }> {
    const { governor } = this.dao();
    const [state, clock] = await this.call(
      () => Promise.all([governor.state(p.proposalId), governor.clock()]) as Promise<[bigint, bigint]>,
    );
    // quorum is defined at the snapshot; before it is reached, show the quorum as of now
    const at = BigInt(p.voteStart) < clock ? BigInt(p.voteStart) : clock - 1n;
    const quorum = (await this.call(() => governor.quorum(at))) as bigint;
    return { state: PROPOSAL_STATES[Number(state)], quorum };
  }

  async ballot(proposalId: string, support: number, voter: string) {
    const { governor } = this.dao();
    const nonce = (await this.call(() => governor.nonces(voter))) as bigint;
    const message = { proposalId, support, voter, nonce: nonce.toString() };
    return {
      ...typedDataShapes(governorDomain(this.governorAddress, this.config.chainId), BALLOT_TYPES, 'Ballot', message),
      nonce: nonce.toString(),
    };
  }

  castVoteBySig(proposalId: string, support: number, voter: string, signature: string) {
    return this.send('castVoteBySig', [proposalId, support, voter, signature]);
  }

  queue(p: ProposalRow) {
    return this.send('queue', this.operation(p));
  }

  execute(p: ProposalRow) {
    return this.send('execute', this.operation(p));
  }

  /** The decoded parameter change of an action, when it calls an IncentiveParameters setter. */
  decodeParameterChange(target: string, calldata: string): { name: ParameterName; key: number; value: string } | null {
    if (target.toLowerCase() !== this.config.contracts.parameters) return null;
    const parsed = this.parametersInterface.parseTransaction({ data: calldata });
    const name = (Object.keys(PARAMETER_SETTERS) as ParameterName[]).find((n) => PARAMETER_SETTERS[n] === parsed?.name);
    if (!parsed || !name) return null;
    const args = [...parsed.args].map((a) => BigInt(a));
    return args.length === 2 ? { name, key: Number(args[0]), value: args[1].toString() } : { name, key: 0, value: args[0].toString() };
  }

  private operation(p: ProposalRow): unknown[] {
    return [
      p.actions.map((a) => a.target),
      p.actions.map((a) => BigInt(a.value)),
      p.actions.map((a) => a.calldata),
      descriptionHash(p.description),
    ];
  }

  /**
   * Simulates the call from the relayer key now (a doomed call is refused with its typed error), then queues it in
   * the transaction outbox and waits for the worker's sender; a race lost meanwhile is refused by the sender's own
   * simulation and recorded on the row. Queue and execute are queued once per proposal while live (a retry waits
   * for the same transaction).
   */
  private async send(fn: string, args: unknown[]): Promise<{ txHash: string; blockNumber: number; function: string }> {
    if (!this.relayer)
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'no governance relayer key is configured (GOVERNANCE_RELAYER_PRIVATE_KEY)');
    const call = { target: this.governorAddress, data: this.governorInterface.encodeFunctionData(fn, args) };
    await this.chain.simulate({ from: this.relayer, to: call.target, data: call.data });
    const dedupeKey = fn === 'castVoteBySig' ? undefined : `${fn}:${keccak256(call.data)}`;
    const { txHash, blockNumber } = await this.transactions.send({
      purpose: 'governance',
      sender: this.relayer,
      function: fn,
      ...call,
      dedupeKey,
    });
    return { txHash, blockNumber, function: fn };
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    // a revert is an answer (e.g. GovernorNonexistentProposal), not an outage
    return onChain(fn);
  }
}
