// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {StudyCustody} from "../exchange/StudyCustody.sol";
import {RoDirectory} from "../exchange/RoDirectory.sol";

/**
 * @title StorageHolders
 * @notice Storage holders keep replicas of encrypted studies, prove each period on chain that they still hold them,
 * and are paid per period from the owning RO's escrow; a holder that misses a proof is not paid, is slashed, and its
 * replica goes to another holder.
 *
 * Life of a study here: its custodian in {StudyCustody} enrols it with the Merkle root and leaf count of its stored
 * chunks (libs/storage/src/merkle.ts) and escrows `fee × replication × periods` from its deposit. Holders are then
 * drawn from the registered ones with the hash of a block mined after the enrolment ({assign}); each drawn holder
 * fetches the ciphertext off chain and {confirm}s. From the period after its confirmation a holder must, in every
 * funded period, answer that period's challenge ({prove}): one 1 KiB leaf at an index derived from a block hash
 * fixed only after the period began, with its Merkle proof, checked here with the SHA-256 precompile. A valid proof
 * credits the period's fee to the holder at once (pull payment). A period that ends without the proof lets anyone
 * {settle} the replica: the holder's stake is slashed by `slashAmount` (to the treasury), it is barred from this study,
 * and the replica is drawn again. The custodian (or StudyCustody) {close}s a study to drop it: payments stop,
 * holders are released (the {ReplicaReleased} events tell them to delete), the unspent escrow returns.
 *
 * The Merkle tree is exactly libs/storage's: leaf = SHA-256(0x00 ‖ leaf bytes), node = SHA-256(0x01 ‖ left ‖ right),
 * positional (pairs never sorted), level by level with an odd last node carried up unchanged. The proof's shape is
 * not trusted from the prover: the contract knows the leaf count (enrolment) and the index (the challenge), so it
 * knows at which levels a sibling exists, and a proof with a sibling too many or too few fails.
 *
 * @dev Pull payments: fees, slashes and refunds are credited to internal balances; {withdraw} and {withdrawStake}
 * alone send tokens out. Invariant (fuzzed): sum of balances + sum of stakes + sum of study escrows ==
 * token.balanceOf(this); each (study, replica slot, period) is paid at most once. HAZARDS:
 * - randomness: assignment and challenges use the hash of a block chosen before it exists (`ASSIGN_DELAY` /
 *   `SEED_DELAY` blocks ahead). It resists the owner picking its holders and a holder learning its leaf before the
 *   period (or grinding it by choosing when to call: the block is fixed by the first call, whoever makes it). It does
 *   not resist the proposer of that block (on L1 one bit of bias, by withholding the block at the cost of its reward)
 *   nor an L2 sequencer, which orders and times the blocks: on an L2 the sequencer is trusted not to collude with a
 *   holder (a VRF or the L1's RANDAO via a bridge would remove that trust; see docs/storage-holders.md);
 * - a proof shows possession when it is made, not that the holder stores the data alone: a holder may fetch the
 *   challenged leaf from another holder (outsourcing). Indexes differ per replica, so copying another replica's proof
 *   from the mempool does not help; collusion of holders across replicas is not detected;
 * - a block hash is readable for 256 blocks only: a seed or an assignment block nobody used in time is re-armed
 *   ({armChallenge}, {assign}), it is never replaced by a value a caller chooses. A holder alone in a period could
 *   therefore skip a leaf it lost and wait 256 blocks for another: the first proof (anyone's) fixes the seed for
 *   good, so keepers (the owners' agents, other holders) are expected to prove early; and a seed block armed at the
 *   very end of a period can fall into the next, so holders arm and prove with a margin;
 * - the token is fixed at construction and serves for both stakes and fees; fee-on-transfer tokens are credited
 *   what arrives, rebasing tokens break the invariant (unsupported);
 * - the period length is fixed at construction: changing it would renumber every period already proven;
 * - slashes go to the treasury, not the owner, so no RO gains from a holder's failure it could provoke (by not
 *   serving its data after the draw, say);
 * - unconfirmed assignments expire unslashed at the end of the period after the draw (a holder may decline);
 * - the owner (the DAO timelock) sets the minimum stake, replication, slash amount, exit delay and the treasury, each
 *   within hard bounds; studies keep the replication and fee of their enrolment.
 */
contract StorageHolders is Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    enum StudyStatus {
        None,
        Active,
        Closed
    }

    /// @dev Two slots (plus the endpoint string).
    struct Holder {
        uint128 stake;
        uint96 price; // asked per GiB (2^20 leaves) per period
        uint32 live; // replicas assigned and not released
        uint64 capacity; // bytes offered
        uint64 used; // bytes of the replicas assigned (leaf count × 1 KiB)
        uint40 exitRequestedAt; // 0: not leaving
        uint32 listIndex; // 1-based position in _holderList; 0: not registered
    }

    /// @dev Three slots.
    struct Study {
        bytes32 root;
        uint64 leafCount;
        uint8 replication;
        StudyStatus status;
        uint32 enrolledPeriod;
        uint32 fundedUntil; // first period not funded
        uint64 assignBlock; // 0: no draw pending
        uint128 feePerPeriod; // per replica
        uint128 escrow;
    }

    /// @dev One slot.
    struct Replica {
        address holder; // 0: empty
        uint32 assignedPeriod;
        uint32 due; // next period to prove; 0: not confirmed yet
    }

    uint256 public constant LEAF_BYTES = 1024;
    uint256 public constant MAX_ENDPOINT_BYTES = 256;
    /// @notice At most 2^40 leaves (1 PiB) per study: a proof has at most 40 siblings.
    uint256 public constant MAX_LEAF_COUNT = 1 << 40;
    uint256 public constant MAX_FUNDED_PERIODS = 3_660;
    /// @notice Per replica per period (1,000,000 tokens of 6 decimals): keeps every escrow far inside uint128.
    uint256 public constant MAX_FEE_PER_PERIOD = 1e12;
    /// @notice Holders tried per replica and draw: bounds the gas of {assign} whatever the registry's size.
    uint256 public constant MAX_PROBES = 16;
    uint256 public constant ASSIGN_DELAY = 2;
    uint256 public constant SEED_DELAY = 2;
    /// @notice Hard bounds: even governance cannot set parameters outside them.
    uint256 public constant MIN_MIN_STAKE = 1e6;
    uint256 public constant MAX_MIN_STAKE = 1e12;
    uint8 public constant MIN_REPLICATION = 1;
    uint8 public constant MAX_REPLICATION = 7;
    uint256 public constant MAX_SLASH = 1e10;
    uint32 public constant MIN_EXIT_DELAY = 1 days;
    uint32 public constant MAX_EXIT_DELAY = 90 days;
    uint32 public constant MIN_PERIOD = 1 hours;
    uint32 public constant MAX_PERIOD = 30 days;

    IERC20 private immutable _token;
    StudyCustody private immutable _custody;
    RoDirectory private immutable _directory;
    uint32 private immutable _periodLength;
    uint64 private immutable _genesis;

    address private _treasury;
    uint128 private _minStake;
    uint128 private _slashAmount;
    uint8 private _replication;
    uint32 private _exitDelay;

    address[] private _holderList;
    mapping(address holder => Holder) private _holders;
    mapping(address holder => string) private _endpoints;
    mapping(address account => uint256) private _balances;
    mapping(bytes32 studyId => Study) private _studies;
    mapping(bytes32 studyId => mapping(uint256 slot => Replica)) private _replicas;
    mapping(bytes32 studyId => mapping(address holder => bool)) private _barred;
    mapping(uint256 period => uint64) private _seedBlocks;
    mapping(uint256 period => bytes32) private _seeds;

    error ZeroAmount();
    error ZeroAddress();
    error InsufficientBalance(uint256 available, uint256 required);
    error AlreadyRegistered(address holder);
    error NotRegistered(address holder);
    /// @notice The endpoint is empty or longer than MAX_ENDPOINT_BYTES.
    error InvalidEndpoint();
    error InvalidCapacity();
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    error HolderExiting(address holder);
    error ExitNotRequested(address holder);
    error ExitDelayNotOver(address holder, uint64 withdrawableAt);
    error LiveAssignments(address holder, uint32 live);
    /// @notice The caller does not act for an admitted, unsuspended RO.
    error NotActiveRoAccount(address caller);
    error StudyNotInCustody(bytes32 studyId);
    /// @notice The caller does not act for the study's custodian (nor is StudyCustody).
    error NotCustodian(bytes32 studyId, address caller);
    error StudyAlreadyEnrolled(bytes32 studyId);
    error StudyNotActive(bytes32 studyId);
    error InvalidRoot();
    error InvalidLeafCount(uint256 leafCount);
    error InvalidPeriods(uint256 periods);
    error NoAssignmentPending(bytes32 studyId);
    error AssignmentNotReady(bytes32 studyId, uint64 assignBlock);
    error InvalidSlot(bytes32 studyId, uint256 slot);
    error NotAssignedHolder(bytes32 studyId, uint256 slot, address caller);
    error AlreadyConfirmed(bytes32 studyId, uint256 slot);
    error ConfirmWindowOver(bytes32 studyId, uint256 slot);
    error NotConfirmed(bytes32 studyId, uint256 slot);
    error ChallengeNotArmed(uint256 period);
    error ChallengeNotReady(uint256 period, uint64 seedBlock);
    error ChallengeAlreadyArmed(uint256 period, uint64 seedBlock);
    /// @notice A period before the current one went unproven: the replica must be settled (slashed) first.
    error MissedPeriodUnsettled(bytes32 studyId, uint256 slot, uint32 due);
    /// @notice This replica's proof for the current period was already accepted (or it is not due yet).
    error NotDue(bytes32 studyId, uint256 slot, uint32 due);
    error PeriodNotFunded(bytes32 studyId, uint256 period);
    error InvalidLeafLength(uint256 length);
    /// @notice The leaf and siblings do not lead to the root at the index and shape given.
    error InvalidProof();
    error NothingToSettle(bytes32 studyId, uint256 slot);
    error StudyStillFunded(bytes32 studyId, uint32 fundedUntil);
    error ParameterOutOfBounds(uint256 value);

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event HolderRegistered(address indexed holder, string endpoint, uint64 capacity, uint96 price, uint256 stake);
    event HolderUpdated(address indexed holder, string endpoint, uint64 capacity, uint96 price);
    event StakeAdded(address indexed holder, uint256 amount, uint256 stake);
    event ExitRequested(address indexed holder, uint64 withdrawableAt);
    event StakeWithdrawn(address indexed holder, uint256 amount);
    event StudyEnrolled(
        bytes32 indexed studyId,
        address indexed ro,
        bytes32 root,
        uint64 leafCount,
        uint8 replication,
        uint256 feePerPeriod,
        uint32 fundedUntil,
        uint256 escrowed
    );
    event StudyExtended(bytes32 indexed studyId, address indexed ro, uint32 fundedUntil, uint256 escrowed);
    /// @notice Replicas of `studyId` will be drawn with the hash of block `assignBlock`.
    event AssignmentArmed(bytes32 indexed studyId, uint64 assignBlock);
    event ReplicaAssigned(bytes32 indexed studyId, uint256 indexed slot, address indexed holder, uint32 period);
    /// @notice No eligible holder was found for the slot in MAX_PROBES draws; a new draw is armed.
    event ReplicaUnfilled(bytes32 indexed studyId, uint256 indexed slot);
    event ReplicaConfirmed(bytes32 indexed studyId, uint256 indexed slot, address indexed holder, uint32 firstPeriod);
    event ChallengeArmed(uint256 indexed period, uint64 seedBlock);
    event ChallengeFixed(uint256 indexed period, bytes32 seed);
    /// @notice A valid proof for `period`: `fee` was credited to the holder.
    event StorageProven(
        bytes32 indexed studyId,
        uint256 indexed slot,
        address indexed holder,
        uint32 period,
        uint64 leafIndex,
        uint256 fee
    );
    event HolderSlashed(
        bytes32 indexed studyId,
        uint256 indexed slot,
        address indexed holder,
        uint32 missedPeriod,
        uint256 amount,
        address treasury
    );
    /// @notice `holder` no longer keeps this replica and should delete it (reason: 0 faulted, 1 unconfirmed,
    /// 2 study dropped by its custodian, 3 funding ended).
    event ReplicaReleased(bytes32 indexed studyId, uint256 indexed slot, address indexed holder, uint8 reason);
    event StudyClosed(bytes32 indexed studyId, address indexed by, bool dropped, uint256 refund);
    event TreasuryUpdated(address indexed treasury);
    event HolderParametersUpdated(uint256 minStake, uint256 slashAmount, uint8 replication, uint32 exitDelay);

    uint8 private constant RELEASE_FAULT = 0;
    uint8 private constant RELEASE_UNCONFIRMED = 1;
    uint8 private constant RELEASE_DROPPED = 2;
    uint8 private constant RELEASE_EXPIRED = 3;

    constructor(
        IERC20 token_,
        StudyCustody custody_,
        uint32 periodLength_,
        address treasury_,
        address initialOwner
    ) Ownable(initialOwner) {
        if (address(token_) == address(0) || address(custody_) == address(0)) revert ZeroAddress();
        if (periodLength_ < MIN_PERIOD || periodLength_ > MAX_PERIOD) revert ParameterOutOfBounds(periodLength_);
        _token = token_;
        _custody = custody_;
        _directory = custody_.directory();
        _periodLength = periodLength_;
        _genesis = uint64(block.timestamp);
        _setTreasury(treasury_);
        _setParameters(100 * 1e6, 10 * 1e6, 3, 14 days);
    }

    // ───────────────────────────── balances ─────────────────────────────

    /// @notice Moves `amount` tokens from the caller (after approve) into its balance here (an RO: its principal).
    function deposit(uint256 amount) external nonReentrant {
        uint256 received = _pull(amount);
        _balances[msg.sender] += received;
        emit Deposited(msg.sender, received);
    }

    /// @notice Sends `amount` of the caller's balance (fees earned, refunds, deposits) to the caller.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 available = _balances[msg.sender];
        if (available < amount) revert InsufficientBalance(available, amount);
        unchecked {
            _balances[msg.sender] = available - amount;
        }
        _token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    // ───────────────────────────── holders ─────────────────────────────

    /**
     * @notice Registers the caller as a storage holder and stakes `stake` tokens (at least the DAO's minimum).
     * @param endpoint where holders and readers fetch its chunks (a URL; public, never patient data)
     * @param capacity bytes offered; @param price asked per GiB per period (a study pays it only if its fee covers it)
     */
    function register(string calldata endpoint, uint64 capacity, uint96 price, uint256 stake) external nonReentrant {
        Holder storage h = _holders[msg.sender];
        if (h.listIndex != 0) revert AlreadyRegistered(msg.sender);
        _checkOffer(endpoint, capacity);
        if (stake < _minStake) revert StakeBelowMinimum(stake, _minStake);
        uint256 received = _pull(stake);
        if (received < _minStake) revert StakeBelowMinimum(received, _minStake);
        _holderList.push(msg.sender);
        h.listIndex = uint32(_holderList.length);
        h.stake = uint128(received);
        h.capacity = capacity;
        h.price = price;
        _endpoints[msg.sender] = endpoint;
        emit HolderRegistered(msg.sender, endpoint, capacity, price, received);
    }

    /// @notice Changes the caller's offer. Capacity below what is used only stops new assignments.
    function updateHolder(string calldata endpoint, uint64 capacity, uint96 price) external {
        Holder storage h = _registered(msg.sender);
        _checkOffer(endpoint, capacity);
        h.capacity = capacity;
        h.price = price;
        _endpoints[msg.sender] = endpoint;
        emit HolderUpdated(msg.sender, endpoint, capacity, price);
    }

    /// @notice Adds to the caller's stake (e.g. back above the minimum after a slash).
    function addStake(uint256 amount) external nonReentrant {
        Holder storage h = _registered(msg.sender);
        if (h.exitRequestedAt != 0) revert HolderExiting(msg.sender);
        uint256 received = _pull(amount);
        uint256 stake = h.stake + received;
        h.stake = uint128(stake);
        emit StakeAdded(msg.sender, received, stake);
    }

    /// @notice The caller leaves: no new assignments from now; its stake is withdrawable after the exit delay once
    /// no replica is assigned to it (replicas it holds still have to be proven, or are slashed as missed).
    function requestExit() external {
        Holder storage h = _registered(msg.sender);
        if (h.exitRequestedAt != 0) revert HolderExiting(msg.sender);
        h.exitRequestedAt = uint40(block.timestamp);
        emit ExitRequested(msg.sender, uint64(block.timestamp) + _exitDelay);
    }

    /// @notice Returns the whole stake of an exiting holder and removes it from the registry.
    function withdrawStake() external nonReentrant {
        Holder storage h = _registered(msg.sender);
        if (h.exitRequestedAt == 0) revert ExitNotRequested(msg.sender);
        uint64 withdrawableAt = uint64(h.exitRequestedAt) + _exitDelay;
        if (block.timestamp < withdrawableAt) revert ExitDelayNotOver(msg.sender, withdrawableAt);
        if (h.live != 0) revert LiveAssignments(msg.sender, h.live);
        uint256 stake = h.stake;
        uint256 pos = h.listIndex - 1;
        address last = _holderList[_holderList.length - 1];
        _holderList[pos] = last;
        _holders[last].listIndex = uint32(pos + 1);
        _holderList.pop();
        delete _holders[msg.sender];
        delete _endpoints[msg.sender];
        if (stake != 0) _token.safeTransfer(msg.sender, stake);
        emit StakeWithdrawn(msg.sender, stake);
    }

    function holderOf(address holder) external view returns (Holder memory, string memory endpoint) {
        return (_holders[holder], _endpoints[holder]);
    }

    function holderCount() external view returns (uint256) {
        return _holderList.length;
    }

    // ───────────────────────────── studies ─────────────────────────────

    /**
     * @notice The custodian of `studyId` (in StudyCustody) enrols it: its stored chunks' Merkle root and leaf count,
     * the fee per replica per period, and `periods` periods of funding escrowed from its balance here
     * (`fee × replication × periods`). Holders are drawn from the hash of a block ASSIGN_DELAY blocks ahead.
     */
    function enrol(
        bytes32 studyId,
        bytes32 root,
        uint64 leafCount,
        uint128 feePerPeriod,
        uint32 periods
    ) external {
        address ro = _custodianCaller(studyId);
        Study storage s = _studies[studyId];
        if (s.status != StudyStatus.None) revert StudyAlreadyEnrolled(studyId);
        if (root == bytes32(0)) revert InvalidRoot();
        if (leafCount == 0 || leafCount > MAX_LEAF_COUNT) revert InvalidLeafCount(leafCount);
        if (feePerPeriod == 0) revert ZeroAmount();
        if (feePerPeriod > MAX_FEE_PER_PERIOD) revert ParameterOutOfBounds(feePerPeriod);
        if (periods == 0 || periods > MAX_FUNDED_PERIODS) revert InvalidPeriods(periods);
        uint8 replication = _replication;
        uint256 amount = uint256(feePerPeriod) * replication * periods;
        _debit(ro, amount);
        uint32 period = uint32(currentPeriod());
        uint32 fundedUntil = period + 1 + periods;
        s.root = root;
        s.leafCount = leafCount;
        s.replication = replication;
        s.status = StudyStatus.Active;
        s.enrolledPeriod = period;
        s.fundedUntil = fundedUntil;
        s.feePerPeriod = feePerPeriod;
        s.escrow = uint128(amount);
        emit StudyEnrolled(studyId, ro, root, leafCount, replication, feePerPeriod, fundedUntil, amount);
        _armAssignment(studyId, s);
    }

    /// @notice The custodian funds `periods` more periods at the study's fee, before its funding ends.
    function extend(bytes32 studyId, uint32 periods) external {
        address ro = _custodianCaller(studyId);
        Study storage s = _activeStudy(studyId);
        if (currentPeriod() >= s.fundedUntil) revert StudyNotActive(studyId);
        uint32 fundedUntil = s.fundedUntil + periods;
        if (periods == 0 || fundedUntil - currentPeriod() > MAX_FUNDED_PERIODS + 1) revert InvalidPeriods(periods);
        uint256 amount = uint256(s.feePerPeriod) * s.replication * periods;
        _debit(ro, amount);
        s.fundedUntil = fundedUntil;
        s.escrow += uint128(amount);
        emit StudyExtended(studyId, ro, fundedUntil, amount);
    }

    /**
     * @notice Draws a holder for every empty replica slot of `studyId` from the hash of its assignment block (anyone
     * may call once that block is mined). A holder is eligible when registered, not exiting, staked at least the
     * minimum, with free capacity for the study, a price the study's fee covers, and not already holding (or barred
     * from) this study. A slot without an eligible holder after MAX_PROBES draws stays empty and a new draw is armed.
     */
    function assign(bytes32 studyId) external {
        Study storage s = _activeStudy(studyId);
        uint64 assignBlock = s.assignBlock;
        if (assignBlock == 0) revert NoAssignmentPending(studyId);
        if (block.number <= assignBlock) revert AssignmentNotReady(studyId, assignBlock);
        bytes32 seed = blockhash(assignBlock);
        s.assignBlock = 0;
        if (seed == bytes32(0)) {
            // older than 256 blocks: draw again from a block still to come, never from a caller's value
            _armAssignment(studyId, s);
            return;
        }
        bool unfilled;
        uint32 period = uint32(currentPeriod());
        uint64 bytes_ = s.leafCount * uint64(LEAF_BYTES);
        for (uint256 slot; slot < s.replication; ++slot) {
            Replica storage r = _replicas[studyId][slot];
            if (r.holder != address(0)) continue;
            address holder = _draw(studyId, s, keccak256(abi.encode(seed, studyId, slot)), bytes_);
            if (holder == address(0)) {
                unfilled = true;
                emit ReplicaUnfilled(studyId, slot);
                continue;
            }
            Holder storage h = _holders[holder];
            h.live += 1;
            h.used += bytes_;
            r.holder = holder;
            r.assignedPeriod = period;
            r.due = 0;
            emit ReplicaAssigned(studyId, slot, holder, period);
        }
        if (unfilled) _armAssignment(studyId, s);
    }

    /// @notice The drawn holder confirms it fetched the replica; it must prove every period from the next one. Open
    /// during the period of the draw and the one after.
    function confirm(bytes32 studyId, uint256 slot) external {
        _activeStudy(studyId);
        Replica storage r = _assignedReplica(studyId, slot);
        if (r.due != 0) revert AlreadyConfirmed(studyId, slot);
        uint256 period = currentPeriod();
        if (period > uint256(r.assignedPeriod) + 1) revert ConfirmWindowOver(studyId, slot);
        uint32 first = uint32(period + 1);
        r.due = first;
        emit ReplicaConfirmed(studyId, slot, msg.sender, first);
    }

    /**
     * @notice The holder of replica `slot` answers the current period's challenge: the leaf at {challengeOf}'s index
     * (1–1024 bytes: the last leaf of a chunk may be shorter) and its siblings from the leaf up, skipping levels
     * where the node is an odd last one carried up (MerkleTree.proofOf's order). A valid proof credits the study's
     * fee for the period to the holder.
     */
    function prove(bytes32 studyId, uint256 slot, bytes calldata leaf, bytes32[] calldata siblings) external {
        Study storage s = _activeStudy(studyId);
        Replica storage r = _assignedReplica(studyId, slot);
        uint32 due = r.due;
        if (due == 0) revert NotConfirmed(studyId, slot);
        uint256 period = currentPeriod();
        if (period >= s.fundedUntil) revert PeriodNotFunded(studyId, period);
        if (period > due) revert MissedPeriodUnsettled(studyId, slot, due);
        if (period < due) revert NotDue(studyId, slot, due);
        uint64 leafCount = s.leafCount;
        uint64 index = _leafIndex(_seedOf(period), studyId, slot, leafCount);
        _verifyLeaf(s.root, leafCount, index, leaf, siblings);
        r.due = due + 1;
        uint128 fee = s.feePerPeriod;
        s.escrow -= fee; // never underflows: each slot is paid at most once per funded period
        _balances[msg.sender] += fee;
        emit StorageProven(studyId, slot, msg.sender, due, index, fee);
    }

    /**
     * @notice Anyone settles a replica whose holder failed: a confirmed holder whose due period ended unproven is
     * slashed (min(slashAmount, stake), to the treasury) and barred from the study; an assignment not confirmed in
     * time is dropped without a slash. Either way the slot is emptied and a new draw armed.
     */
    function settle(bytes32 studyId, uint256 slot) external {
        Study storage s = _activeStudy(studyId);
        if (slot >= s.replication) revert InvalidSlot(studyId, slot);
        Replica storage r = _replicas[studyId][slot];
        address holder = r.holder;
        uint256 period = currentPeriod();
        uint32 due = r.due;
        if (holder == address(0)) revert NothingToSettle(studyId, slot);
        if (due == 0) {
            if (period <= uint256(r.assignedPeriod) + 1) revert NothingToSettle(studyId, slot);
            _release(studyId, s, slot, r, RELEASE_UNCONFIRMED);
        } else {
            if (period <= due || due >= s.fundedUntil) revert NothingToSettle(studyId, slot);
            Holder storage h = _holders[holder];
            uint128 amount = h.stake < _slashAmount ? h.stake : _slashAmount;
            h.stake -= amount;
            address treasury_ = _treasury;
            _balances[treasury_] += amount;
            _barred[studyId][holder] = true;
            emit HolderSlashed(studyId, slot, holder, due, amount, treasury_);
            _release(studyId, s, slot, r, RELEASE_FAULT);
        }
        if (s.assignBlock == 0) _armAssignment(studyId, s);
    }

    /**
     * @notice Ends a study's storage: its custodian's account or StudyCustody itself may drop it at any time (custody
     * revoked, study deleted); anyone may close it once its funding has ended. Every holder is released (told to
     * delete), and the unspent escrow is credited to the current custodian.
     */
    function close(bytes32 studyId) external {
        Study storage s = _activeStudy(studyId);
        bool dropped = currentPeriod() < s.fundedUntil;
        address ro = _custody.custodyOf(studyId).ro;
        if (dropped && msg.sender != address(_custody) && _directory.activeRoOf(msg.sender) != ro)
            revert StudyStillFunded(studyId, s.fundedUntil);
        uint8 reason = dropped ? RELEASE_DROPPED : RELEASE_EXPIRED;
        for (uint256 slot; slot < s.replication; ++slot) {
            Replica storage r = _replicas[studyId][slot];
            if (r.holder != address(0)) _release(studyId, s, slot, r, reason);
        }
        uint256 refund = s.escrow;
        s.escrow = 0;
        s.status = StudyStatus.Closed;
        s.assignBlock = 0;
        // a study whose custody record vanished cannot exist (StudyCustody never deletes), the treasury is a fallback
        _balances[ro == address(0) ? _treasury : ro] += refund;
        emit StudyClosed(studyId, msg.sender, dropped, refund);
    }

    function studyOf(bytes32 studyId) external view returns (Study memory) {
        return _studies[studyId];
    }

    function replicaOf(bytes32 studyId, uint256 slot) external view returns (Replica memory) {
        return _replicas[studyId][slot];
    }

    function isBarred(bytes32 studyId, address holder) external view returns (bool) {
        return _barred[studyId][holder];
    }

    // ───────────────────────────── challenges ─────────────────────────────

    /// @notice Index of the current period (periods start at deployment).
    function currentPeriod() public view returns (uint256) {
        return (block.timestamp - _genesis) / _periodLength;
    }

    /**
     * @notice Fixes the block whose hash seeds the current period's challenges: SEED_DELAY blocks ahead of this call.
     * Anyone calls it (a holder, the owner, a keeper) once per period; if that block's hash was never used within
     * 256 blocks, it may be armed again.
     */
    function armChallenge() external {
        uint256 period = currentPeriod();
        uint64 seedBlock = _seedBlocks[period];
        if (_seeds[period] != bytes32(0) || (seedBlock != 0 && (block.number <= seedBlock || blockhash(seedBlock) != 0)))
            revert ChallengeAlreadyArmed(period, seedBlock);
        seedBlock = uint64(block.number + SEED_DELAY);
        _seedBlocks[period] = seedBlock;
        emit ChallengeArmed(period, seedBlock);
    }

    /**
     * @notice The leaf replica `slot` of `studyId` must prove this period: `ready` once the period's seed block is
     * mined (then `leafIndex` is meaningful).
     */
    function challengeOf(
        bytes32 studyId,
        uint256 slot
    ) external view returns (uint256 period, bool ready, uint64 leafIndex, uint64 seedBlock) {
        period = currentPeriod();
        seedBlock = _seedBlocks[period];
        bytes32 seed = _seeds[period];
        if (seed == bytes32(0) && seedBlock != 0 && block.number > seedBlock) seed = blockhash(seedBlock);
        uint64 leafCount = _studies[studyId].leafCount;
        if (seed != bytes32(0) && leafCount != 0) {
            ready = true;
            leafIndex = _leafIndex(seed, studyId, slot, leafCount);
        }
    }

    /**
     * @notice Reverts with {InvalidProof} unless `leaf` is leaf `index` of `leafCount` under `root` with these
     * siblings (libs/storage's tree). For holders and tests: {prove} checks the same.
     */
    function verifyLeaf(
        bytes32 root,
        uint64 leafCount,
        uint64 index,
        bytes calldata leaf,
        bytes32[] calldata siblings
    ) external view {
        _verifyLeaf(root, leafCount, index, leaf, siblings);
    }

    // ───────────────────────────── parameters ─────────────────────────────

    function parameters()
        external
        view
        returns (uint256 minStake, uint256 slashAmount, uint8 replication, uint32 exitDelay, uint32 periodLength)
    {
        return (_minStake, _slashAmount, _replication, _exitDelay, _periodLength);
    }

    function token() external view returns (IERC20) {
        return _token;
    }

    function custody() external view returns (StudyCustody) {
        return _custody;
    }

    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @notice Minimum stake (new registrations and eligibility), slash per missed period, replication of studies
    /// enrolled from now on, and exit delay; each within its hard bounds.
    function setParameters(uint256 minStake, uint256 slashAmount, uint8 replication, uint32 exitDelay) external onlyOwner {
        _setParameters(minStake, slashAmount, replication, exitDelay);
    }

    /// @notice Where slashes are credited from now on.
    function setTreasury(address newTreasury) external onlyOwner {
        _setTreasury(newTreasury);
    }

    // ───────────────────────────── internals ─────────────────────────────

    function _pull(uint256 amount) private returns (uint256 received) {
        if (amount == 0) revert ZeroAmount();
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        received = _token.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroAmount();
    }

    function _debit(address account, uint256 amount) private {
        uint256 available = _balances[account];
        if (available < amount) revert InsufficientBalance(available, amount);
        unchecked {
            _balances[account] = available - amount;
        }
    }

    function _checkOffer(string calldata endpoint, uint64 capacity) private pure {
        if (bytes(endpoint).length == 0 || bytes(endpoint).length > MAX_ENDPOINT_BYTES) revert InvalidEndpoint();
        if (capacity == 0) revert InvalidCapacity();
    }

    function _registered(address holder) private view returns (Holder storage h) {
        h = _holders[holder];
        if (h.listIndex == 0) revert NotRegistered(holder);
    }

    function _activeStudy(bytes32 studyId) private view returns (Study storage s) {
        s = _studies[studyId];
        if (s.status != StudyStatus.Active) revert StudyNotActive(studyId);
    }

    function _assignedReplica(bytes32 studyId, uint256 slot) private view returns (Replica storage r) {
        if (slot >= _studies[studyId].replication) revert InvalidSlot(studyId, slot);
        r = _replicas[studyId][slot];
        if (r.holder != msg.sender) revert NotAssignedHolder(studyId, slot, msg.sender);
    }

    /// @dev The custodian of a study in StudyCustody, if the caller acts for it (and it is active).
    function _custodianCaller(bytes32 studyId) private view returns (address ro) {
        ro = _custody.custodyOf(studyId).ro;
        if (ro == address(0)) revert StudyNotInCustody(studyId);
        address callerRo = _directory.activeRoOf(msg.sender);
        if (callerRo == address(0)) revert NotActiveRoAccount(msg.sender);
        if (callerRo != ro) revert NotCustodian(studyId, msg.sender);
    }

    function _armAssignment(bytes32 studyId, Study storage s) private {
        uint64 assignBlock = uint64(block.number + ASSIGN_DELAY);
        s.assignBlock = assignBlock;
        emit AssignmentArmed(studyId, assignBlock);
    }

    function _draw(bytes32 studyId, Study storage s, bytes32 seed, uint64 bytes_) private view returns (address) {
        uint256 n = _holderList.length;
        if (n == 0) return address(0);
        uint128 minStake = _minStake;
        // price is per GiB (2^20 leaves): the study's fee covers it when price × leafCount ≤ fee × 2^20
        uint256 budget = uint256(s.feePerPeriod) << 20;
        for (uint256 k; k < MAX_PROBES; ++k) {
            address candidate = _holderList[uint256(keccak256(abi.encode(seed, k))) % n];
            Holder storage h = _holders[candidate];
            if (
                h.exitRequestedAt == 0 &&
                h.stake >= minStake &&
                uint256(h.used) + bytes_ <= h.capacity &&
                uint256(h.price) * s.leafCount <= budget &&
                !_barred[studyId][candidate] &&
                !_holdsReplica(studyId, s.replication, candidate)
            ) return candidate;
        }
        return address(0);
    }

    function _holdsReplica(bytes32 studyId, uint8 replication, address holder) private view returns (bool) {
        for (uint256 slot; slot < replication; ++slot) if (_replicas[studyId][slot].holder == holder) return true;
        return false;
    }

    function _release(bytes32 studyId, Study storage s, uint256 slot, Replica storage r, uint8 reason) private {
        address holder = r.holder;
        Holder storage h = _holders[holder];
        h.live -= 1;
        h.used -= s.leafCount * uint64(LEAF_BYTES);
        r.holder = address(0);
        r.due = 0;
        emit ReplicaReleased(studyId, slot, holder, reason);
    }

    /// @dev The period's seed, fixed (stored) by the first proof that reads it.
    function _seedOf(uint256 period) private returns (bytes32 seed) {
        seed = _seeds[period];
        if (seed != bytes32(0)) return seed;
        uint64 seedBlock = _seedBlocks[period];
        if (seedBlock == 0) revert ChallengeNotArmed(period);
        if (block.number <= seedBlock) revert ChallengeNotReady(period, seedBlock);
        seed = blockhash(seedBlock);
        if (seed == bytes32(0)) revert ChallengeNotReady(period, seedBlock); // expired: armChallenge again
        _seeds[period] = seed;
        emit ChallengeFixed(period, seed);
    }

    function _leafIndex(bytes32 seed, bytes32 studyId, uint256 slot, uint64 leafCount) private pure returns (uint64) {
        return uint64(uint256(keccak256(abi.encode(seed, studyId, slot))) % leafCount);
    }

    /**
     * @dev libs/storage/src/merkle.ts `rootFromProof` in Solidity: fold up from the leaf hash; at each level the node
     * at index i among n has a sibling iff i^1 < n (otherwise it is an odd last node carried up unchanged); every
     * sibling given must be used. SHA-256 through the precompile at 0x02 on a scratch buffer in memory.
     */
    function _verifyLeaf(
        bytes32 root,
        uint64 leafCount,
        uint64 index,
        bytes calldata leaf,
        bytes32[] calldata siblings
    ) private view {
        if (leaf.length == 0 || leaf.length > LEAF_BYTES) revert InvalidLeafLength(leaf.length);
        if (index >= leafCount) revert InvalidProof();
        bytes32 h = sha256(abi.encodePacked(bytes1(0x00), leaf));
        uint256 i = index;
        uint256 n = leafCount;
        uint256 used;
        uint256 count = siblings.length;
        bool ok = true;
        while (n > 1) {
            if ((i ^ 1) < n) {
                if (used == count) revert InvalidProof();
                bytes32 sibling = siblings[used++];
                (bytes32 left, bytes32 right) = i & 1 == 1 ? (sibling, h) : (h, sibling);
                assembly ("memory-safe") {
                    let p := mload(0x40) // scratch past the free pointer, not allocated (nothing else runs here)
                    mstore8(p, 0x01)
                    mstore(add(p, 1), left)
                    mstore(add(p, 33), right)
                    ok := and(ok, staticcall(gas(), 0x02, p, 65, 0x00, 0x20))
                    h := mload(0x00)
                }
            }
            i >>= 1;
            n = (n + 1) >> 1;
        }
        if (!ok || used != count || h != root) revert InvalidProof();
    }

    function _setParameters(uint256 minStake, uint256 slashAmount, uint8 replication, uint32 exitDelay) private {
        if (minStake < MIN_MIN_STAKE || minStake > MAX_MIN_STAKE) revert ParameterOutOfBounds(minStake);
        if (slashAmount == 0 || slashAmount > MAX_SLASH) revert ParameterOutOfBounds(slashAmount);
        if (replication < MIN_REPLICATION || replication > MAX_REPLICATION) revert ParameterOutOfBounds(replication);
        if (exitDelay < MIN_EXIT_DELAY || exitDelay > MAX_EXIT_DELAY) revert ParameterOutOfBounds(exitDelay);
        _minStake = uint128(minStake);
        _slashAmount = uint128(slashAmount);
        _replication = replication;
        _exitDelay = exitDelay;
        emit HolderParametersUpdated(minStake, slashAmount, replication, exitDelay);
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert ZeroAddress();
        _treasury = newTreasury;
        emit TreasuryUpdated(newTreasury);
    }
}
