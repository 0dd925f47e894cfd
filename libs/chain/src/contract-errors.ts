import { NETWORK_ERRNOS } from '#config';
import { decodeContractError, revertDataOf } from './errors.js';

/**
 * How the chain's refusals read to a client: one table from each contract error (every custom error of every
 * OpenRead ABI, OpenZeppelin's inherited ones included, and the Safe's GS0xx revert strings) to a closed API error
 * code and a sentence, and one classification of a thrown ethers error (a revert, a node that answered with an
 * error, or a node that could not be reached). The API, the relayers, governance, the treasury and the settler
 * all read reverts through here. contract-errors.spec.ts checks that every error of contracts/out has an entry.
 */

/** The API error codes a contract refusal can become (a subset of apps/api's closed ERROR_CODES). */
export const CONTRACT_ERROR_CODES = [
  'NOT_FOUND',
  'ALREADY_CLAIMED',
  'NOT_ELIGIBLE',
  'FORBIDDEN',
  'LEASE_EXPIRED',
  'BAD_INPUT',
  'CONFLICT',
] as const;
export type ContractErrorCode = (typeof CONTRACT_ERROR_CODES)[number];

export interface ContractErrorEntry {
  code: ContractErrorCode;
  /** shown to the client: no PHI, no arguments (they may hold addresses the caller did not send) */
  message: string;
}

const e = (code: ContractErrorCode, message: string): ContractErrorEntry => ({ code, message });

/** Custom errors by name (names are unique across the ABIs' meanings: InsufficientBalance is the market's or OZ Address's). */
export const CONTRACT_ERRORS: Readonly<Record<string, ContractErrorEntry>> = {
  // StudyMarket
  StudyNotFound: e('NOT_FOUND', 'no such study'),
  StudyNotOpen: e('ALREADY_CLAIMED', 'the study has already been claimed'),
  NotEligible: e('NOT_ELIGIBLE', 'you are not eligible to read this study (credential, licence state or modality)'),
  NotClaimant: e('FORBIDDEN', 'only the radiologist who claimed the study can do this'),
  NotStudyOwner: e('FORBIDDEN', 'only the RO that posted the study can do this'),
  LeaseHasExpired: e('LEASE_EXPIRED', 'the claim lease has expired'),
  LeaseNotExpired: e('CONFLICT', 'the claim lease has not expired yet'),
  InvalidReportHash: e('BAD_INPUT', 'the report hash must not be zero'),
  InvalidStatus: e('CONFLICT', 'the study is not in a status that allows this'),
  InsufficientBalance: e('CONFLICT', 'the balance on chain does not cover the amount (maxBounty or the retrieval fee): deposit first'),
  StudyAlreadyExists: e('CONFLICT', 'a study with this ID already exists'),
  InvalidStudy: e('BAD_INPUT', 'the study is not valid (modality, urgency, state, difficulty or maxBounty out of range)'),
  StudyIdNotIssued: e('FORBIDDEN', "the study ID was not issued to this RO by the market's issuer"),
  StudyIdIssuanceExpired: e('BAD_INPUT', 'the study ID issuance has expired: request a new study ID'),
  DisputeWindowClosed: e('CONFLICT', 'the dispute window has closed'),
  DisputeWindowOpen: e('CONFLICT', 'the dispute window is still open'),
  NotArbiter: e('FORBIDDEN', 'only the arbiter can resolve a dispute'),
  AwardExceedsLockedBounty: e('BAD_INPUT', 'the award exceeds the locked bounty'),
  ZeroAmount: e('BAD_INPUT', 'the amount must not be zero'),
  ZeroAddress: e('BAD_INPUT', 'the address must not be zero'),
  // CredentialRegistry
  InvalidCredential: e('BAD_INPUT', 'the credential is not valid (empty or out-of-range masks, or an expiry not in the future)'),
  CredentialNotFound: e('NOT_FOUND', 'the radiologist has no live credential to revoke'),
  // IncentiveParameters
  ParameterOutOfBounds: e('BAD_INPUT', 'the value is outside the hard bounds of the parameter (even governance cannot set it)'),
  UnknownKey: e('BAD_INPUT', 'no such parameter key'),
  // AccessLogAnchor
  StaleAnchor: e('CONFLICT', 'an anchor with this or a later sequence number is already on chain'),
  ZeroHead: e('BAD_INPUT', 'the anchored head must not be zero'),
  ZeroRoot: e('BAD_INPUT', 'the Merkle root of the anchored entries must not be zero'),
  AnchorTooFarAhead: e('BAD_INPUT', 'the sequence number is more than 2^32 beyond the last anchor'),
  // RoDirectory (the exchange's ROs, accounts and keys)
  AccountUnavailable: e('CONFLICT', 'the account is zero or already belongs (or once belonged) to an RO'),
  NotActiveRo: e('FORBIDDEN', 'only the principal account of an admitted, unsuspended RO can do this'),
  RoNotAdmitted: e('NOT_FOUND', 'no such admitted RO'),
  InvalidKey: e('BAD_INPUT', 'the encryption key and the signer address must not be zero'),
  KeyNotLive: e('BAD_INPUT', 'the key is not a live registered key of this RO'),
  TooManyKeys: e('CONFLICT', 'the RO already holds the most live keys allowed: revoke one first'),
  NotRoAccount: e('BAD_INPUT', 'the account does not act for this RO, or is its principal account'),
  SuspensionUnchanged: e('CONFLICT', 'the RO is already suspended (or already active)'),
  // StudyCustody (custody and leases between ROs)
  NotActiveRoAccount: e('FORBIDDEN', 'only an account of an admitted, unsuspended RO can do this'),
  StudyAlreadyRegistered: e('CONFLICT', 'the study is already in custody, or posted by another RO'),
  StudyNotRegistered: e('NOT_FOUND', 'no study in custody with this ID'),
  InvalidManifestHash: e('BAD_INPUT', 'the manifest hash must not be zero'),
  NotCustodian: e('FORBIDDEN', "only the study's custodian RO can do this"),
  InvalidCustodian: e('BAD_INPUT', 'the new custodian must be another active RO'),
  OwnStudy: e('BAD_INPUT', 'an RO cannot lease a study it holds itself'),
  InvalidPeriod: e('BAD_INPUT', 'the lease period is outside the allowed range'),
  TooManyRenewals: e('BAD_INPUT', 'more renewals than allowed were offered'),
  LeaseNotFound: e('NOT_FOUND', 'no such lease'),
  InvalidLeaseStatus: e('CONFLICT', 'the lease is not in a status that allows this'),
  InvalidGrantHashes: e('BAD_INPUT', 'the wrapped-key and ciphertext hashes must not be zero'),
  NotRequester: e('FORBIDDEN', 'only the RO that requested the lease can do this'),
  RequestNotTimedOut: e('CONFLICT', 'the lease request may still be answered: wait for its timeout'),
  LeaseStillValid: e('CONFLICT', 'the lease has not expired yet'),
  NoRenewalsLeft: e('CONFLICT', 'the requester allowed no further renewal of this lease'),
  NotLessee: e('BAD_INPUT', 'the account does not act for the RO that holds the lease'),
  MisuseAlreadyReported: e('CONFLICT', 'misuse of this lease has already been reported'),
  AccountNotFlagged: e('CONFLICT', 'the account is not flagged'),
  // MembershipToken
  MembershipNonTransferable: e('FORBIDDEN', 'membership tokens cannot be transferred'),
  // OpenZeppelin access control and ownership
  AccessControlUnauthorizedAccount: e('FORBIDDEN', 'the signer does not hold the role this needs on chain'),
  AccessControlBadConfirmation: e('BAD_INPUT', 'a role can only be renounced by its holder'),
  OwnableUnauthorizedAccount: e('FORBIDDEN', 'only the contract owner can do this'),
  OwnableInvalidOwner: e('BAD_INPUT', 'the new owner is not valid'),
  // governance (OpenZeppelin Governor and TimelockController)
  GovernorInsufficientProposerVotes: e('FORBIDDEN', 'only DAO members with enough votes can propose'),
  GovernorInvalidSignature: e('BAD_INPUT', 'the ballot signature is not valid for this voter (wrong signer, proposal, support or nonce)'),
  GovernorAlreadyCastVote: e('CONFLICT', 'this member has already voted on the proposal'),
  GovernorUnexpectedProposalState: e('CONFLICT', 'the proposal is not in a state that allows this (see its state)'),
  GovernorNonexistentProposal: e('NOT_FOUND', 'no such proposal'),
  GovernorAlreadyQueuedProposal: e('CONFLICT', 'the proposal is already queued'),
  GovernorDisabledDeposit: e('BAD_INPUT', 'the governor does not accept deposits'),
  GovernorInvalidProposalLength: e('BAD_INPUT', 'a proposal needs as many targets, values and calldatas, and at least one'),
  GovernorInvalidQuorumFraction: e('BAD_INPUT', 'the quorum fraction is out of range'),
  GovernorInvalidVoteParams: e('BAD_INPUT', 'the vote parameters are not valid'),
  GovernorInvalidVoteType: e('BAD_INPUT', 'the vote must be against, for or abstain'),
  GovernorInvalidVotingPeriod: e('BAD_INPUT', 'the voting period must not be zero'),
  GovernorOnlyExecutor: e('FORBIDDEN', 'only the governance executor (the timelock) can do this'),
  GovernorPreventLateQuorumVoteExtensionTooLarge: e('BAD_INPUT', 'the late-quorum vote extension is too large'),
  GovernorProposalQueueingFailed: e('CONFLICT', 'the proposal could not be queued'),
  GovernorProposalQueueingNotRequired: e('CONFLICT', 'the proposal needs no queueing'),
  GovernorRestrictedProposer: e('FORBIDDEN', 'this proposal is restricted to another proposer'),
  GovernorUnableToCancel: e('FORBIDDEN', 'only the proposer can cancel, and only while the proposal is pending'),
  TimelockUnexpectedOperationState: e('CONFLICT', 'the timelock operation is not ready (wait until the proposal eta)'),
  TimelockInsufficientDelay: e('BAD_INPUT', "the delay is shorter than the timelock's minimum"),
  TimelockInvalidOperationLength: e('BAD_INPUT', 'the operation needs as many targets, values and payloads'),
  TimelockUnauthorizedCaller: e('FORBIDDEN', 'only the timelock itself can do this'),
  TimelockUnexecutedPredecessor: e('CONFLICT', "the operation's predecessor has not been executed"),
  // OpenZeppelin tokens, votes and signatures
  ERC20InsufficientAllowance: e('CONFLICT', 'the token allowance does not cover the amount: approve the market first'),
  ERC20InsufficientBalance: e('CONFLICT', 'the token balance does not cover the amount'),
  ERC20InvalidApprover: e('BAD_INPUT', 'the approver address is not valid'),
  ERC20InvalidReceiver: e('BAD_INPUT', 'the receiver address is not valid'),
  ERC20InvalidSender: e('BAD_INPUT', 'the sender address is not valid'),
  ERC20InvalidSpender: e('BAD_INPUT', 'the spender address is not valid'),
  ERC20ExceededSafeSupply: e('CONFLICT', 'the token supply would exceed its safe maximum'),
  ERC2612ExpiredSignature: e('BAD_INPUT', 'the permit signature has expired'),
  ERC2612InvalidSigner: e('BAD_INPUT', 'the permit is not signed by the owner'),
  ERC5805FutureLookup: e('BAD_INPUT', 'votes can only be read for past timepoints'),
  ERC6372InconsistentClock: e('CONFLICT', 'the token and the governor disagree on the clock'),
  VotesExpiredSignature: e('BAD_INPUT', 'the delegation signature has expired'),
  CheckpointUnorderedInsertion: e('CONFLICT', 'a voting checkpoint was written out of order'),
  InvalidAccountNonce: e('BAD_INPUT', "the signed nonce is not the account's current one"),
  ECDSAInvalidSignature: e('BAD_INPUT', 'the signature is not valid'),
  ECDSAInvalidSignatureLength: e('BAD_INPUT', 'the signature has the wrong length'),
  ECDSAInvalidSignatureS: e('BAD_INPUT', 'the signature is malleable (high s)'),
  InvalidShortString: e('BAD_INPUT', 'the string is not a valid short string'),
  StringTooLong: e('BAD_INPUT', 'the string is too long'),
  SafeCastOverflowedUintDowncast: e('BAD_INPUT', 'a number is too large for its on-chain field'),
  SafeERC20FailedOperation: e('CONFLICT', 'the token transfer failed'),
  ReentrancyGuardReentrantCall: e('CONFLICT', 'a re-entrant call was refused'),
  FailedCall: e('CONFLICT', 'the inner call failed'),
  // ERC-2771 forwarder (gasless requests)
  ERC2771ForwarderExpiredRequest: e('BAD_INPUT', 'the request expired before it could be sent'),
  ERC2771ForwarderInvalidSigner: e('BAD_INPUT', 'the request is not signed by its from address'),
  ERC2771ForwarderMismatchedValue: e('BAD_INPUT', "the request's value does not match"),
  ERC2771ForwarderNoRefundReceiver: e('BAD_INPUT', 'a batch with failures needs a refund receiver'),
  ERC2771UntrustfulTarget: e('BAD_INPUT', 'the target does not trust the forwarder'),
  // StorageHolders (storage holders, replicas, storage proofs)
  AlreadyRegistered: e('CONFLICT', 'this account is already a registered storage holder'),
  NotRegistered: e('NOT_FOUND', 'this account is not a registered storage holder'),
  InvalidEndpoint: e('BAD_INPUT', 'the endpoint must be 1 to 256 bytes'),
  InvalidCapacity: e('BAD_INPUT', 'the capacity must not be zero'),
  StakeBelowMinimum: e('BAD_INPUT', 'the stake is below the minimum the DAO set'),
  HolderExiting: e('CONFLICT', 'the holder has asked to leave'),
  ExitNotRequested: e('CONFLICT', 'the holder has not asked to leave'),
  ExitDelayNotOver: e('CONFLICT', 'the exit delay has not passed yet'),
  LiveAssignments: e('CONFLICT', 'the holder still has replicas assigned'),
  StudyNotInCustody: e('NOT_FOUND', 'no study in custody with this ID'),
  StudyAlreadyEnrolled: e('CONFLICT', 'the study is already enrolled for storage'),
  StudyNotActive: e('CONFLICT', 'the study is not enrolled for storage, or its storage has ended'),
  InvalidRoot: e('BAD_INPUT', 'the Merkle root must not be zero'),
  InvalidLeafCount: e('BAD_INPUT', 'the leaf count is zero or too large'),
  InvalidPeriods: e('BAD_INPUT', 'the number of funded periods is outside the allowed range'),
  NoAssignmentPending: e('CONFLICT', 'no draw of holders is pending for this study'),
  AssignmentNotReady: e('CONFLICT', 'the block that draws the holders is not mined yet'),
  InvalidSlot: e('BAD_INPUT', 'no such replica of this study'),
  NotAssignedHolder: e('FORBIDDEN', 'only the holder assigned to this replica can do this'),
  AlreadyConfirmed: e('CONFLICT', 'the replica is already confirmed'),
  ConfirmWindowOver: e('CONFLICT', 'the time to confirm this replica has passed'),
  NotConfirmed: e('CONFLICT', 'the replica is not confirmed yet'),
  ChallengeNotArmed: e('CONFLICT', "this period's challenge is not armed yet"),
  ChallengeNotReady: e('CONFLICT', "this period's challenge block is not mined yet (or too old: arm it again)"),
  ChallengeAlreadyArmed: e('CONFLICT', "this period's challenge is already armed"),
  MissedPeriodUnsettled: e('CONFLICT', 'an earlier period went unproven: the replica must be settled first'),
  NotDue: e('CONFLICT', 'this replica has no proof due in this period'),
  PeriodNotFunded: e('CONFLICT', "the study's storage is not funded for this period"),
  InvalidLeafLength: e('BAD_INPUT', 'a leaf is 1 to 1024 bytes'),
  InvalidProof: e('BAD_INPUT', 'the Merkle proof does not match the recorded root (a storage proof or a compensation claim)'),
  NothingToSettle: e('CONFLICT', 'this replica has nothing to settle'),
  StudyStillFunded: e('FORBIDDEN', "only the study's custodian can end its storage before its funding ends"),
  // StudyCustody revocation, PatientLinks (patient links without PHI) and ResearchPools
  RevokedByPatient: e('FORBIDDEN', "the study's patient revoked its custody: no new lease, grant, renewal or transfer"),
  NotPatientLinks: e('FORBIDDEN', 'only the PatientLinks contract can revoke custody'),
  InvalidCommitment: e('BAD_INPUT', 'the link commitment must not be zero'),
  CommitmentUsed: e('CONFLICT', 'this link commitment was already used: draw a fresh salt'),
  InvalidLinkStatus: e('CONFLICT', "the study's patient link is not in a status that allows this"),
  OpeningMismatch: e('FORBIDDEN', "the account and salt do not open the study's link commitment"),
  SignatureExpired: e('BAD_INPUT', 'the signature has expired: sign again'),
  InvalidPatientSignature: e('BAD_INPUT', "the signature is not the patient's link account's"),
  InvalidPurpose: e('BAD_INPUT', "the pool's purpose hash must not be zero"),
  InvalidShares: e('BAD_INPUT', "the pool's shares must add up to 100 %, within the patient and treasury bounds"),
  PoolNotFound: e('NOT_FOUND', 'no such research pool'),
  PoolClosed: e('CONFLICT', 'the research pool is closed'),
  NotLinkedPatient: e('FORBIDDEN', 'only the patient linked to the study can do this'),
  ConsentAlreadyGiven: e('CONFLICT', 'the patient already consented to this pool for this study'),
  NoLiveConsent: e('CONFLICT', 'no live consent of the patient to this pool for this study'),
  PurchaseNotFound: e('NOT_FOUND', 'no such pool purchase'),
  PurchaseClosed: e('CONFLICT', 'the pool purchase was refunded: nothing more is released into it'),
  PurchaseExhausted: e('CONFLICT', 'the pool purchase has fewer studies left than released'),
  NotResearcher: e('FORBIDDEN', 'only the researcher who made the purchase can do this'),
  PurchaseStillOpen: e('CONFLICT', 'the pool purchase may still be filled: wait for its term or the pool closing'),
  NotReleasable: e('FORBIDDEN', 'the study is not a live patient link in your custody'),
  AlreadyReleased: e('CONFLICT', 'the study was already released into this purchase'),
  NotDistributor: e('FORBIDDEN', "only the pools' distributor or the DAO can publish a compensation root"),
  EmptyEpoch: e('CONFLICT', 'no compensation was released in this epoch'),
  EpochNotPublished: e('NOT_FOUND', "the epoch's compensation root is not published yet"),
  AlreadyClaimed: e('CONFLICT', 'this compensation was already claimed'),
  ExceedsEpochTotal: e('CONFLICT', "the claim exceeds what is left of the epoch's compensation"),
};

/** The Safe's (1.4.1) revert strings. All are refusals of the request, never outages. */
export const SAFE_ERRORS: Readonly<Record<string, ContractErrorEntry>> = {
  GS000: e('CONFLICT', 'the Safe could not finish initialization'),
  GS001: e('BAD_INPUT', 'the Safe needs a threshold'),
  GS002: e('BAD_INPUT', "the Safe's module setup target is not a contract"),
  GS010: e('CONFLICT', 'not enough gas to execute the Safe transaction'),
  GS011: e('CONFLICT', 'the Safe could not pay the gas costs in ether'),
  GS012: e('CONFLICT', 'the Safe could not pay the gas costs in tokens'),
  GS013: e('CONFLICT', 'the Safe transaction failed (no gas price or safeTxGas to absorb it)'),
  GS020: e('CONFLICT', 'the Safe transaction has too few signatures'),
  GS021: e('BAD_INPUT', 'a contract signature points inside the static part'),
  GS022: e('BAD_INPUT', 'a contract signature has no length'),
  GS023: e('BAD_INPUT', "a contract signature's data is incomplete"),
  GS024: e('BAD_INPUT', 'a contract signature is not valid'),
  GS025: e('CONFLICT', 'the Safe transaction hash has not been approved'),
  GS026: e('CONFLICT', "the signatures are not the current owners' (or not in ascending order)"),
  GS027: e('BAD_INPUT', 'a signature is not valid'),
  GS030: e('FORBIDDEN', 'only Safe owners can approve a hash'),
  GS031: e('FORBIDDEN', 'only the Safe itself can do this'),
  GS100: e('CONFLICT', "the Safe's modules are already initialized"),
  GS101: e('BAD_INPUT', 'the module address is not valid'),
  GS102: e('CONFLICT', 'the module is already enabled'),
  GS103: e('BAD_INPUT', 'the previous module does not point to this module'),
  GS104: e('FORBIDDEN', 'only an enabled module can do this'),
  GS105: e('BAD_INPUT', 'invalid start for paging the modules'),
  GS106: e('BAD_INPUT', 'invalid page size for paging the modules'),
  GS200: e('CONFLICT', "the Safe's owners are already set up"),
  GS201: e('BAD_INPUT', 'the threshold cannot exceed the number of owners'),
  GS202: e('BAD_INPUT', 'the threshold must be at least 1'),
  GS203: e('BAD_INPUT', 'the owner address is not valid'),
  GS204: e('CONFLICT', 'the address is already an owner'),
  GS205: e('BAD_INPUT', 'the previous owner does not point to this owner'),
  GS300: e('BAD_INPUT', 'the guard does not implement IERC165'),
  GS400: e('BAD_INPUT', 'the fallback handler cannot be the Safe itself'),
};

/** What a client sees when the node cannot be reached or does not answer. */
export const CHAIN_UNAVAILABLE_MESSAGE = 'the chain node is not reachable; try again shortly';

/**
 * A thrown error from a call, an estimate or a send, classified:
 * - REVERTED: the contract refused (`reason` is the custom error's name, the Safe's GS code, the revert string,
 *   or null when the revert carried no data), with the table's code and message;
 * - REFUSED: the node answered with an error that is not a revert (nonce, funds, a malformed request), or an
 *   error that does not say the node was unreachable;
 * - UNAVAILABLE: no answer (connection refused or reset, timeout, 5xx).
 */
export type ChainFailure =
  | { kind: 'REVERTED'; reason: string | null; args: unknown[]; code: ContractErrorCode; message: string }
  | { kind: 'REFUSED'; reason: NodeRefusal; message: string; /** the node's or ethers' own words: for logs only */ detail: string }
  | { kind: 'UNAVAILABLE'; message: string };

/**
 * Why a node refused a request that is not a revert: a closed set, each with a sentence for a person. The node's own
 * text (and ethers' wrapping of it: "could not coalesce error", JSON-RPC payloads) is kept for logs only: it varies
 * by node and version, and names nothing a client can act on.
 */
export const NODE_REFUSALS = {
  NONCE_TOO_LOW: "the transaction's nonce was already used: sign it again with the account's current nonce",
  INSUFFICIENT_FUNDS: 'the sending account cannot pay for the gas (and value) of this transaction',
  REPLACEMENT_UNDERPRICED: 'another transaction with this nonce is pending: wait for it, or replace it with a higher fee',
  ALREADY_KNOWN: 'this transaction was already sent',
  TRANSACTION_TOO_LARGE: 'the transaction is larger than the chain node accepts',
  GAS_LIMIT: "the transaction's gas limit is too low for it, or above the block's",
  FEE_TOO_LOW: "the transaction's fee is below what the chain node accepts now",
  NODE_REFUSED: 'the chain node refused the transaction',
} as const;
export type NodeRefusal = keyof typeof NODE_REFUSALS;

/** ethers' codes and the nodes' words (geth, reth, anvil, op-geth) for each refusal, first match wins */
const REFUSAL_PATTERNS: [NodeRefusal, RegExp][] = [
  ['ALREADY_KNOWN', /already known|already imported|known transaction|already exists/i],
  ['NONCE_TOO_LOW', /^NONCE_EXPIRED$|nonce too low|nonce has already been used|nonce.*too low|old nonce/i],
  ['REPLACEMENT_UNDERPRICED', /^REPLACEMENT_UNDERPRICED$|replacement transaction underpriced|replacement.*underpriced/i],
  ['INSUFFICIENT_FUNDS', /^INSUFFICIENT_FUNDS$|insufficient funds|not enough funds|lack of funds/i],
  ['TRANSACTION_TOO_LARGE', /oversized data|too large|exceeds.*size|max.*size/i],
  ['GAS_LIMIT', /intrinsic gas too low|gas limit reached|exceeds block gas limit|gas too low|out of gas/i],
  ['FEE_TOO_LOW', /underpriced|max fee per gas less than block base fee|fee cap less than|tip.*too low|fee too low/i],
];

/** The closed reason of a node's refusal, from ethers' code and the texts it carries. */
function nodeRefusal(error: unknown): NodeRefusal {
  const texts: string[] = [];
  const seen = new Set<unknown>();
  for (
    let e = error as
      { code?: unknown; message?: unknown; shortMessage?: unknown; error?: unknown; info?: unknown; cause?: unknown } | undefined;
    e && typeof e === 'object' && !seen.has(e);
  ) {
    seen.add(e);
    for (const t of [e.code, e.shortMessage, e.message]) if (typeof t === 'string') texts.push(t);
    e = (e.error ?? (e.info as { error?: unknown } | undefined)?.error ?? e.cause) as typeof e;
  }
  for (const [reason, pattern] of REFUSAL_PATTERNS) if (texts.some((t) => pattern.test(t))) return reason;
  return 'NODE_REFUSED';
}

/** A revert reason a client may see in extensions.reason: a custom error's name or a GS code, never free text. */
const NAMED_REASON = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** The entry for a revert reason (a custom error's name or a Safe GS code); unknown ones are a CONFLICT, named. */
export function contractErrorEntry(reason: string): ContractErrorEntry {
  return CONTRACT_ERRORS[reason] ?? SAFE_ERRORS[reason] ?? e('CONFLICT', `the contract refused the transaction (${reason})`);
}

/** ethers' codes for a request that got no answer */
const UNREACHABLE = new Set(['NETWORK_ERROR', 'TIMEOUT', 'SERVER_ERROR']);

/** Whether the error, or one it wraps, says the node could not be reached. */
function unreachable(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = error as { code?: unknown; cause?: unknown; error?: unknown } | undefined; e && typeof e === 'object' && !seen.has(e);) {
    seen.add(e);
    if (typeof e.code === 'string' && (UNREACHABLE.has(e.code) || NETWORK_ERRNOS.has(e.code))) return true;
    e = (e.cause ?? e.error) as typeof e;
  }
  return /ECONNREFUSED|ECONNRESET|socket hang up|fetch failed/.test(String((error as { message?: unknown })?.message ?? ''));
}

export function classifyChainError(error: unknown): ChainFailure {
  const data = revertDataOf(error);
  const decoded = data ? decodeContractError(data) : null;
  const err = (error ?? {}) as { code?: string; reason?: string | null };
  // a revert string that is not a name (free text of a contract, or ethers' "Panic due to …") is not shown
  const named = (reason: string): ChainFailure =>
    NAMED_REASON.test(reason)
      ? { kind: 'REVERTED', reason, args: [], ...contractErrorEntry(reason) }
      : { kind: 'REVERTED', reason: null, args: [], code: 'CONFLICT', message: 'the transaction would revert' };
  if (decoded) {
    // Error(string): the Safe's GS codes and other revert strings
    if (decoded.name === 'Error') return named(typeof decoded.args[0] === 'string' ? decoded.args[0] : '');
    return { kind: 'REVERTED', reason: decoded.name, args: decoded.args, ...contractErrorEntry(decoded.name) };
  }
  if (err.code === 'CALL_EXCEPTION') return named(typeof err.reason === 'string' ? err.reason : '');
  if (unreachable(error)) return { kind: 'UNAVAILABLE', message: CHAIN_UNAVAILABLE_MESSAGE };
  // the node answered with an error that is not a revert (nonce, funds, gas, a malformed request)
  const reason = nodeRefusal(error);
  return { kind: 'REFUSED', reason, message: NODE_REFUSALS[reason], detail: shortReason(error) };
}

/** The first line of an ethers error, at most 200 characters (for logs and REFUSED messages). */
export function shortReason(error: unknown): string {
  const err = error as { shortMessage?: string; message?: string } | null;
  return (err?.shortMessage ?? err?.message ?? 'unknown').split('\n')[0].slice(0, 200);
}
