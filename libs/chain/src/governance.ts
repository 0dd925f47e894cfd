import { Contract, Interface, id as keccakId, type TypedDataDomain, type TypedDataField } from 'ethers';
import { loadArtifact } from './artifacts.js';

/** The parameters of IncentiveParameters a proposal can change, and the setter each one calls. */
export const PARAMETER_SETTERS = {
  feeBps: 'setFeeBps',
  leaseDuration: 'setLeaseDuration',
  acceptanceWindow: 'setAcceptanceWindow',
  escalationBpsPerHour: 'setEscalationBpsPerHour',
  urgencyMultiplierBps: 'setUrgencyMultiplierBps',
  baseBounty: 'setBaseBounty',
} as const;
export type ParameterName = keyof typeof PARAMETER_SETTERS;
/** Parameters with a key (urgency index / modality index); the others are scalars (key 0). */
export const KEYED_PARAMETERS: readonly ParameterName[] = ['urgencyMultiplierBps', 'baseBounty'];

export interface ParameterChange {
  name: ParameterName;
  /** urgency index for urgencyMultiplierBps, modality index for baseBounty; ignored (0) otherwise */
  key?: number;
  value: bigint;
}

let parametersInterface: Interface | undefined;

/** The calldata of IncentiveParameters' setter for one change (what a proposal's action calls). */
export function encodeParameterChange(change: ParameterChange): string {
  parametersInterface ??= new Interface(loadArtifact('IncentiveParameters').abi);
  const fn = PARAMETER_SETTERS[change.name];
  const args = KEYED_PARAMETERS.includes(change.name) ? [change.key ?? 0, change.value] : [change.value];
  return parametersInterface.encodeFunctionData(fn, args);
}

/** The proposal actions (targets, values, calldatas) that apply `changes` to the parameters contract. */
export function parameterProposal(parameters: string, changes: ParameterChange[]) {
  return {
    targets: changes.map(() => parameters),
    values: changes.map(() => 0n),
    calldatas: changes.map(encodeParameterChange),
  };
}

/** keccak256 of the description, as Governor.queue / execute expect it. */
export const descriptionHash = (description: string) => keccakId(description);

/** Vote types of GovernorCountingSimple. */
export const VOTE_SUPPORT = { AGAINST: 0, FOR: 1, ABSTAIN: 2 } as const;

/** Governor proposal states, by index (IGovernor.ProposalState). */
export const PROPOSAL_STATES = ['PENDING', 'ACTIVE', 'CANCELED', 'DEFEATED', 'SUCCEEDED', 'QUEUED', 'EXPIRED', 'EXECUTED'] as const;
export type ProposalStateName = (typeof PROPOSAL_STATES)[number];

/** EIP-712 types of OpenZeppelin Governor 5's castVoteBySig ballot. */
export const BALLOT_TYPES: Record<string, TypedDataField[]> = {
  Ballot: [
    { name: 'proposalId', type: 'uint256' },
    { name: 'support', type: 'uint8' },
    { name: 'voter', type: 'address' },
    { name: 'nonce', type: 'uint256' },
  ],
};

/** The EIP-712 domain of the governor (its name and version come from the contract: "OpenRead DAO", "1"). */
export function governorDomain(governor: string, chainId: number, name = 'OpenRead DAO', version = '1'): TypedDataDomain {
  return { name, version, chainId, verifyingContract: governor };
}

/** Signs a castVoteBySig ballot for `voter`'s next governor nonce (what a member's wallet does for a gasless vote). */
export async function signBallot(
  voter: {
    address: string;
    signTypedData: (domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>) => Promise<string>;
  },
  governor: Contract,
  chainId: number,
  proposalId: bigint | string,
  support: number,
): Promise<string> {
  const nonce = (await governor.nonces(voter.address)) as bigint;
  return voter.signTypedData(governorDomain(String(governor.target), chainId), BALLOT_TYPES, {
    proposalId,
    support,
    voter: voter.address,
    nonce,
  });
}
