// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {BountyMath} from "./BountyMath.sol";
import {IncentiveParameters} from "./IncentiveParameters.sol";
import {CredentialRegistry} from "./CredentialRegistry.sol";

/**
 * @title StudyMarket
 * @notice Escrowed marketplace for radiology reads. A reading organisation (RO) deposits tokens and posts a
 * study with a bounty cap; a credentialed radiologist claims it (locking the dynamic bounty at that moment),
 * submits a report hash within the lease, and after the acceptance window anyone settles it.
 *
 * @dev Pull payments: every payout, fee and refund is credited to an internal balance that its owner
 * withdraws; no function but {withdraw} sends tokens out, so a reverting recipient cannot block a study.
 *
 * Invariant (tested): sum of internal balances + sum of `maxBounty` of studies that are neither Settled nor
 * Cancelled == token.balanceOf(this), as long as the token has no rebasing. HAZARDS:
 * - fee-on-transfer tokens: deposits credit the amount actually received (balance difference);
 * - rebasing tokens break the invariant and are not supported;
 * - parameters and registry are trusted contracts fixed at construction; their owner / verifiers can
 *   change fees and eligibility of studies that are not yet claimed.
 * - a Disputed study stays escrowed until the owner (the DAO timelock) or the arbiter resolves it with
 *   {resolveDispute}; both are trusted to split fairly, and a dispute nobody resolves stays frozen.
 *
 * Gasless calls (ERC-2771): the trusted forwarder (fixed at construction) may append the signer's address to the
 * calldata; every function reads its caller with {_msgSender}, never `msg.sender`. HAZARDS:
 * - the forwarder is trusted with every identity: a compromised or buggy forwarder can act as anyone;
 * - never add Multicall or any self-delegatecall: combined with ERC-2771 it lets callers spoof _msgSender;
 * - owner functions also accept forwarded calls (Ownable reads _msgSender), so an owner's signed request is as
 *   good as the owner's transaction: an owner must not sign forward requests it does not mean.
 *
 * Study IDs are issued, never chosen (privacy: no PHI on chain). HAZARD: the study ID is the one free-form field a
 * poster controls, so an RO choosing it could put PHI-derived data on chain (e.g. a hash of an MRN or accession
 * number, which is linkable by anyone holding the MRN). {postStudy} therefore accepts only an ID the study-ID
 * issuer (a key the API holds, generating 32 random bytes per ID) signed for this RO (EIP-712 StudyIdIssuance),
 * fail closed: no valid issuance, no posting. The issuer is trusted to issue random IDs only; the owner (the DAO
 * timelock) replaces it with {setStudyIdIssuer}, which also voids every unused issuance of the previous issuer.
 */
contract StudyMarket is Ownable2Step, ReentrancyGuardTransient, ERC2771Context, EIP712 {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Open,
        Claimed,
        Reported,
        Disputed,
        Settled,
        Cancelled
    }

    /// @dev Three slots plus the report hash. uint40 timestamps last until the year 36812; difficulty fits
    /// uint24 because postStudy bounds it to [1000, 100000].
    struct Study {
        // slot 0: written by postStudy
        address ro;
        Status status;
        uint8 modality;
        uint8 urgency;
        uint8 patientState;
        uint24 difficultyBps;
        uint40 postedAt;
        // slot 1: written by claim, cleared when a lease expires
        address radiologist;
        uint16 feeBps;
        uint40 leaseExpiresAt;
        uint40 disputeDeadline;
        // slot 2
        uint128 maxBounty;
        uint128 lockedBounty;
        // slot 3
        bytes32 reportHash;
    }

    /// @notice ABI-friendly copy of a study, returned by {getStudy}.
    struct StudyView {
        address ro;
        address radiologist;
        Status status;
        uint8 modality;
        uint8 urgency;
        uint8 patientState;
        uint32 difficultyBps;
        uint16 feeBps;
        uint64 postedAt;
        uint64 leaseExpiresAt;
        uint64 disputeDeadline;
        uint256 maxBounty;
        uint256 lockedBounty;
        bytes32 reportHash;
    }

    uint32 public constant MIN_DIFFICULTY_BPS = 1000;
    uint32 public constant MAX_DIFFICULTY_BPS = 100000;
    uint8 public constant MODALITY_COUNT = 7;
    uint8 public constant URGENCY_COUNT = 3;
    uint8 public constant STATE_COUNT = 51;
    uint256 private constant BPS = 10_000;
    bytes32 private constant STUDY_ID_ISSUANCE_TYPEHASH =
        keccak256("StudyIdIssuance(bytes32 studyId,address ro,uint64 issuedUntil)");

    IERC20 private immutable _token;
    IncentiveParameters private immutable _parameters;
    CredentialRegistry private immutable _registry;
    address private _treasury;
    /// @dev May resolve disputes besides the owner; zero = only the owner (the DAO timelock).
    address private _arbiter;
    /// @dev Signs (EIP-712) the random study IDs an RO may post; never zero. See the contract's notes.
    address private _studyIdIssuer;

    mapping(address account => uint256) private _balances;
    mapping(bytes32 studyId => Study) private _studies;

    error ZeroAmount();
    error ZeroAddress();
    error InsufficientBalance(uint256 available, uint256 required);
    error StudyAlreadyExists(bytes32 studyId);
    error InvalidStudy();
    error StudyNotFound(bytes32 studyId);
    error StudyNotOpen(bytes32 studyId, Status status);
    error InvalidStatus(bytes32 studyId, Status status);
    error NotEligible(address radiologist, bytes32 studyId);
    error NotClaimant(bytes32 studyId);
    error NotStudyOwner(bytes32 studyId);
    error LeaseNotExpired(bytes32 studyId, uint64 leaseExpiresAt);
    error LeaseHasExpired(bytes32 studyId);
    error InvalidReportHash();
    error DisputeWindowClosed(bytes32 studyId);
    error DisputeWindowOpen(bytes32 studyId, uint64 disputeDeadline);
    error NotArbiter(address caller);
    error AwardExceedsLockedBounty(uint256 award, uint256 lockedBounty);
    /// @notice The study ID was not issued to the caller by the study-ID issuer (a self-chosen or foreign ID).
    error StudyIdNotIssued(bytes32 studyId);
    /// @notice The issuance of the study ID expired at `issuedUntil`.
    error StudyIdIssuanceExpired(bytes32 studyId, uint64 issuedUntil);

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event StudyPosted(
        bytes32 indexed studyId,
        address indexed ro,
        uint8 modality,
        uint32 difficultyBps,
        uint8 urgency,
        uint8 patientState,
        uint256 maxBounty,
        uint64 postedAt
    );
    event StudyClaimed(
        bytes32 indexed studyId,
        address indexed radiologist,
        address indexed ro,
        uint256 bounty,
        uint16 feeBps,
        uint64 leaseExpiresAt
    );
    event LeaseExpired(bytes32 indexed studyId, address indexed radiologist);
    event ReportSubmitted(
        bytes32 indexed studyId,
        address indexed radiologist,
        bytes32 reportHash,
        uint64 disputeDeadline
    );
    event StudyDisputed(bytes32 indexed studyId, address indexed ro);
    event StudySettled(
        bytes32 indexed studyId,
        address indexed radiologist,
        address indexed ro,
        uint256 payout,
        uint256 fee,
        uint256 refund,
        address treasury
    );
    event StudyCancelled(bytes32 indexed studyId, address indexed ro, uint256 refund);
    event TreasuryUpdated(address indexed treasury);
    event ArbiterUpdated(address indexed arbiter);
    /// @notice The study-ID issuer was replaced; issuances signed by `previous` are no longer accepted.
    event StudyIdIssuerChanged(address indexed previous, address indexed current);
    /// @notice A disputed study was resolved by `resolver` (the arbiter or the owner): the radiologist was awarded
    /// `payout + fee` of the locked bounty, `refund` went back to the RO.
    event DisputeResolved(
        bytes32 indexed studyId,
        address indexed radiologist,
        address indexed ro,
        uint256 payout,
        uint256 fee,
        uint256 refund,
        address treasury,
        address resolver
    );

    constructor(
        IERC20 token_,
        IncentiveParameters parameters_,
        CredentialRegistry registry_,
        address treasury_,
        address initialOwner,
        address trustedForwarder_,
        address studyIdIssuer_
    ) Ownable(initialOwner) ERC2771Context(trustedForwarder_) EIP712("OpenRead StudyMarket", "1") {
        if (
            address(token_) == address(0) ||
            address(parameters_) == address(0) ||
            address(registry_) == address(0)
        ) revert ZeroAddress();
        _token = token_;
        _parameters = parameters_;
        _registry = registry_;
        _setTreasury(treasury_);
        _setStudyIdIssuer(studyIdIssuer_);
    }

    // ───────────────────────────── balances ─────────────────────────────

    /// @notice Moves `amount` tokens from the caller (after approve) into the caller's market balance.
    function deposit(uint256 amount) external nonReentrant {
        _deposit(amount);
    }

    /**
     * @notice {deposit} with an ERC-2612 permit instead of a prior approve.
     * @dev HAZARD: a permit in the mempool can be front-run (someone submits it first, making ours revert).
     * The permit call is therefore allowed to fail; the transfer then succeeds if the allowance is in place.
     */
    function depositWithPermit(
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant {
        try IERC20Permit(address(_token)).permit(_msgSender(), address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(amount);
    }

    /// @notice Sends `amount` of the caller's market balance to the caller.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 available = _balances[_msgSender()];
        if (available < amount) revert InsufficientBalance(available, amount);
        unchecked {
            _balances[_msgSender()] = available - amount;
        }
        _token.safeTransfer(_msgSender(), amount);
        emit Withdrawn(_msgSender(), amount);
    }

    /// @notice Market balance of `account` (withdrawable; escrowed study funds are not included).
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    // ───────────────────────────── study lifecycle ─────────────────────────────

    /**
     * @notice Posts a study and escrows `maxBounty` from the caller's market balance.
     * @param studyId random identifier issued by the study-ID issuer (the API's prepareStudyPosting); must be unused
     * and non-zero. HAZARD: never derive it from patient data (an MRN, an accession number): it is public forever.
     * @param difficultyBps difficulty (RVU) multiplier in [1000, 100000] basis points.
     * @param patientState index of the patient's state; the radiologist must be licensed there.
     * @param issuedUntil last timestamp at which the issuance is valid.
     * @param issuance the issuer's EIP-712 signature of StudyIdIssuance(studyId, caller, issuedUntil). Binding the
     * caller means an issuance seen in the mempool cannot be used by another RO; each ID posts once anyway.
     */
    function postStudy(
        bytes32 studyId,
        uint8 modality,
        uint32 difficultyBps,
        uint8 urgency,
        uint8 patientState,
        uint128 maxBounty,
        uint64 issuedUntil,
        bytes calldata issuance
    ) external {
        // fail closed: the ID is the one free-form field a poster controls, so only issued (random) IDs are posted
        if (block.timestamp > issuedUntil) revert StudyIdIssuanceExpired(studyId, issuedUntil);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(STUDY_ID_ISSUANCE_TYPEHASH, studyId, _msgSender(), issuedUntil))
        );
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, issuance);
        if (err != ECDSA.RecoverError.NoError || signer != _studyIdIssuer) revert StudyIdNotIssued(studyId);
        if (
            studyId == bytes32(0) ||
            modality >= MODALITY_COUNT ||
            urgency >= URGENCY_COUNT ||
            patientState >= STATE_COUNT ||
            difficultyBps < MIN_DIFFICULTY_BPS ||
            difficultyBps > MAX_DIFFICULTY_BPS ||
            maxBounty == 0
        ) revert InvalidStudy();
        Study storage s = _studies[studyId];
        if (s.status != Status.None) revert StudyAlreadyExists(studyId);
        uint256 available = _balances[_msgSender()];
        if (available < maxBounty) revert InsufficientBalance(available, maxBounty);
        unchecked {
            _balances[_msgSender()] = available - maxBounty;
        }

        s.ro = _msgSender();
        s.status = Status.Open;
        s.modality = modality;
        s.urgency = urgency;
        s.patientState = patientState;
        s.difficultyBps = uint24(difficultyBps); // bounded above
        s.postedAt = uint40(block.timestamp);
        s.maxBounty = maxBounty;

        emit StudyPosted(
            studyId,
            _msgSender(),
            modality,
            difficultyBps,
            urgency,
            patientState,
            maxBounty,
            uint64(block.timestamp)
        );
    }

    /**
     * @notice Claims an open study (or one whose lease expired, releasing it first). Locks the bounty as of
     * now, counting the waiting time from the original posting, and snapshots the protocol fee.
     */
    function claim(bytes32 studyId) external {
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) revert StudyNotFound(studyId);
        if (status == Status.Claimed && block.timestamp > s.leaseExpiresAt) {
            _releaseLease(studyId, s);
            status = Status.Open;
        }
        if (status != Status.Open) revert StudyNotOpen(studyId, status);
        address radiologist = _msgSender();
        if (!_registry.isEligible(radiologist, s.patientState, s.modality)) revert NotEligible(radiologist, studyId);

        uint256 bounty = _bounty(s.modality, s.difficultyBps, s.urgency, s.maxBounty, block.timestamp - s.postedAt);
        (uint32 leaseDuration, uint16 feeBps) = _parameters.claimTerms();
        uint40 leaseExpiresAt = uint40(block.timestamp + leaseDuration);

        s.status = Status.Claimed;
        s.radiologist = radiologist;
        s.feeBps = feeBps;
        s.leaseExpiresAt = leaseExpiresAt;
        s.lockedBounty = uint128(bounty); // bounty <= maxBounty (uint128)

        emit StudyClaimed(studyId, radiologist, s.ro, bounty, feeBps, leaseExpiresAt);
    }

    /// @notice Re-opens a claimed study whose lease has expired without a report. Anyone may call it.
    function releaseExpiredLease(bytes32 studyId) external {
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) revert StudyNotFound(studyId);
        if (status != Status.Claimed) revert InvalidStatus(studyId, status);
        if (block.timestamp <= s.leaseExpiresAt) revert LeaseNotExpired(studyId, s.leaseExpiresAt);
        _releaseLease(studyId, s);
    }

    /// @notice The claimant submits the hash of the signed report; the RO's acceptance window starts.
    function submitReport(bytes32 studyId, bytes32 reportHash) external {
        if (reportHash == bytes32(0)) revert InvalidReportHash();
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) revert StudyNotFound(studyId);
        if (status != Status.Claimed) revert InvalidStatus(studyId, status);
        if (s.radiologist != _msgSender()) revert NotClaimant(studyId);
        if (block.timestamp > s.leaseExpiresAt) revert LeaseHasExpired(studyId);

        uint40 disputeDeadline = uint40(block.timestamp + _parameters.acceptanceWindow());
        s.status = Status.Reported;
        s.disputeDeadline = disputeDeadline;
        s.reportHash = reportHash;

        emit ReportSubmitted(studyId, _msgSender(), reportHash, disputeDeadline);
    }

    /// @notice The RO disputes a report inside the acceptance window; the escrow stays frozen.
    function dispute(bytes32 studyId) external {
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) revert StudyNotFound(studyId);
        if (s.ro != _msgSender()) revert NotStudyOwner(studyId);
        if (status != Status.Reported) revert InvalidStatus(studyId, status);
        if (block.timestamp >= s.disputeDeadline) revert DisputeWindowClosed(studyId);
        s.status = Status.Disputed;
        emit StudyDisputed(studyId, _msgSender());
    }

    /**
     * @notice After the acceptance window, pays the radiologist the locked bounty minus the fee snapshotted at
     * claim, credits the fee to the treasury and refunds the unused escrow to the RO. Anyone may call it.
     * @dev The fee goes to the treasury at settlement time (not at claim time).
     */
    function settle(bytes32 studyId) external {
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) revert StudyNotFound(studyId);
        if (status != Status.Reported) revert InvalidStatus(studyId, status);
        uint40 disputeDeadline = s.disputeDeadline;
        if (block.timestamp < disputeDeadline) revert DisputeWindowOpen(studyId, disputeDeadline);

        s.status = Status.Settled;
        (uint256 payout, uint256 fee, uint256 refund, address treasury_) = _pay(s, s.lockedBounty);
        emit StudySettled(studyId, s.radiologist, s.ro, payout, fee, refund, treasury_);
    }

    /**
     * @notice Resolves a disputed study: the radiologist is awarded `award` (at most the locked bounty; the fee
     * snapshotted at claim is taken from the award), the RO gets the rest of the escrow back. `award` 0 refunds
     * the RO in full; `award` = lockedBounty pays as if the report had been accepted. Only the arbiter or the
     * owner (the DAO timelock) may call it.
     * @dev The study ends Settled, so it can be paid at most once (settle and resolveDispute both require a
     * status they move away from).
     */
    function resolveDispute(bytes32 studyId, uint256 award) external {
        if (msg.sender != _arbiter && msg.sender != owner()) revert NotArbiter(msg.sender);
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) revert StudyNotFound(studyId);
        if (status != Status.Disputed) revert InvalidStatus(studyId, status);
        uint256 locked = s.lockedBounty;
        if (award > locked) revert AwardExceedsLockedBounty(award, locked);

        s.status = Status.Settled;
        (uint256 payout, uint256 fee, uint256 refund, address treasury_) = _pay(s, award);
        emit DisputeResolved(studyId, s.radiologist, s.ro, payout, fee, refund, treasury_, msg.sender);
    }

    /// @notice The RO withdraws an unclaimed study; the whole escrow returns to the RO's balance.
    function cancelStudy(bytes32 studyId) external {
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) revert StudyNotFound(studyId);
        if (s.ro != _msgSender()) revert NotStudyOwner(studyId);
        if (status != Status.Open) revert InvalidStatus(studyId, status);
        s.status = Status.Cancelled;
        uint256 refund = s.maxBounty;
        _balances[_msgSender()] += refund;
        emit StudyCancelled(studyId, _msgSender(), refund);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @notice The bounty a claim would lock now (0 for unknown studies; the locked bounty once claimed).
    function currentBounty(bytes32 studyId) external view returns (uint256) {
        Study storage s = _studies[studyId];
        Status status = s.status;
        if (status == Status.None) return 0;
        if (status == Status.Open || (status == Status.Claimed && block.timestamp > s.leaseExpiresAt)) {
            return _bounty(s.modality, s.difficultyBps, s.urgency, s.maxBounty, block.timestamp - s.postedAt);
        }
        return s.lockedBounty;
    }

    /// @notice The bounty formula with the current parameters, for arbitrary inputs.
    function quoteBounty(
        uint8 modality,
        uint32 difficultyBps,
        uint8 urgency,
        uint256 maxBounty,
        uint256 waitingSeconds
    ) external view returns (uint256) {
        return _bounty(modality, difficultyBps, urgency, maxBounty, waitingSeconds);
    }

    function getStudy(bytes32 studyId) external view returns (StudyView memory v) {
        Study storage s = _studies[studyId];
        v.ro = s.ro;
        v.radiologist = s.radiologist;
        v.status = s.status;
        v.modality = s.modality;
        v.urgency = s.urgency;
        v.patientState = s.patientState;
        v.difficultyBps = s.difficultyBps;
        v.feeBps = s.feeBps;
        v.postedAt = s.postedAt;
        v.leaseExpiresAt = s.leaseExpiresAt;
        v.disputeDeadline = s.disputeDeadline;
        v.maxBounty = s.maxBounty;
        v.lockedBounty = s.lockedBounty;
        v.reportHash = s.reportHash;
    }

    function token() external view returns (IERC20) {
        return _token;
    }

    function parameters() external view returns (IncentiveParameters) {
        return _parameters;
    }

    function registry() external view returns (CredentialRegistry) {
        return _registry;
    }

    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @notice Who may resolve disputes besides the owner (zero: nobody but the owner).
    function arbiter() external view returns (address) {
        return _arbiter;
    }

    /// @notice Whose EIP-712 StudyIdIssuance signatures {postStudy} accepts.
    function studyIdIssuer() external view returns (address) {
        return _studyIdIssuer;
    }

    // ───────────────────────────── admin ─────────────────────────────

    /// @notice Where protocol fees are credited from now on (already-credited fees stay with the old treasury).
    function setTreasury(address newTreasury) external onlyOwner {
        _setTreasury(newTreasury);
    }

    /// @notice Appoints (or, with zero, removes) the dispute arbiter.
    function setArbiter(address newArbiter) external onlyOwner {
        _arbiter = newArbiter;
        emit ArbiterUpdated(newArbiter);
    }

    /// @notice Replaces the study-ID issuer (never with zero: posting fails closed, not open). Unused issuances of
    /// the previous issuer are refused from now on.
    function setStudyIdIssuer(address newIssuer) external onlyOwner {
        _setStudyIdIssuer(newIssuer);
    }

    // ───────────────────────────── internals ─────────────────────────────

    /**
     * @dev Credits `award` (≤ lockedBounty) minus the snapshotted fee to the radiologist, the fee to the current
     * treasury and the rest of the escrow to the RO. The caller has already moved the study to Settled.
     * payout + fee + refund == maxBounty, so the escrow is released exactly once and in full.
     */
    function _pay(
        Study storage s,
        uint256 award
    ) private returns (uint256 payout, uint256 fee, uint256 refund, address treasury_) {
        fee = (award * s.feeBps) / BPS;
        payout = award - fee;
        refund = s.maxBounty - award;
        treasury_ = _treasury;
        // Zero credits are skipped: they would only cost gas.
        if (payout != 0) _balances[s.radiologist] += payout;
        if (fee != 0) _balances[treasury_] += fee;
        if (refund != 0) _balances[s.ro] += refund;
    }

    /// @dev The caller: the signer of a request relayed by the trusted forwarder, otherwise msg.sender.
    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }

    function _deposit(uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(_msgSender(), address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroAmount();
        _balances[_msgSender()] += received;
        emit Deposited(_msgSender(), received);
    }

    function _releaseLease(bytes32 studyId, Study storage s) private {
        address radiologist = s.radiologist;
        s.status = Status.Open;
        s.radiologist = address(0);
        s.feeBps = 0;
        s.leaseExpiresAt = 0;
        s.lockedBounty = 0;
        emit LeaseExpired(studyId, radiologist);
    }

    function _bounty(
        uint8 modality,
        uint256 difficultyBps,
        uint8 urgency,
        uint256 maxBounty,
        uint256 waitingSeconds
    ) private view returns (uint256) {
        (uint256 base, uint32 urgencyBps, uint32 escalationBps) = _parameters.bountyInputs(modality, urgency);
        return BountyMath.compute(base, difficultyBps, urgencyBps, escalationBps, waitingSeconds, maxBounty);
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert ZeroAddress();
        _treasury = newTreasury;
        emit TreasuryUpdated(newTreasury);
    }

    function _setStudyIdIssuer(address newIssuer) private {
        if (newIssuer == address(0)) revert ZeroAddress();
        address previous = _studyIdIssuer;
        _studyIdIssuer = newIssuer;
        emit StudyIdIssuerChanged(previous, newIssuer);
    }
}
