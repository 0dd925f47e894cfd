// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {StudyMarket} from "../StudyMarket.sol";
import {RoDirectory} from "./RoDirectory.sol";

/**
 * @title StudyCustody
 * @notice The imaging exchange between reading organisations (ROs): which RO holds custody of a study (and the hash
 * of its encrypted manifest), and leases of a study from its custodian (the oRO) to a requesting RO (the nRO) for a
 * period, paid with a retrieval fee.
 *
 * Lease life: the nRO requests (the fee is escrowed from its deposit here); the custodian grants (the fee is paid out
 * at once: protocol fee to the treasury, a storage-holder share kept in this contract, the rest to the custodian) or
 * denies (full refund). A requester may cancel a request nobody answered within REQUEST_TIMEOUT. The custodian may
 * renew a granted lease as many times as the requester allowed in its request, each renewal charging the fee
 * snapshotted at request from the requester's deposit. After expiry the custodian's agent records each use it refused
 * (an event naming the lease and the account) and may report the lessee's account for misuse once per lease; an
 * account whose reports reach the DAO's threshold is flagged for review.
 *
 * @dev Pull payments as in StudyMarket: fees and refunds are credited to internal balances; only {withdraw} sends
 * tokens out. Invariant (tested): sum of balances + escrow of Requested leases + storage share held ==
 * token.balanceOf(this). The deposit is this contract's own, not StudyMarket's: the market's balances are private
 * to it and moving them would need a new market entry point trusted with every RO's funds (and a market redeploy);
 * a separate deposit keeps each contract's conservation invariant checkable on its own. HAZARDS:
 * - fee-on-transfer tokens: deposits credit what was received; rebasing tokens break the invariant (unsupported);
 * - the storage-holder share has no way out yet: it waits for the storage contract of a later step, which will be
 *   given a withdrawal path by a new deployment (it is counted, never lost from the invariant);
 * - the custodian is trusted with what it grants: the chain records hashes of the wrapped lease key and of the
 *   ciphertext, not their correctness (the nRO checks the signature off chain against the RO's key in RoDirectory);
 * - the directory, market and token are fixed at construction; the owner (the DAO timelock) sets the treasury, the
 *   fee and shares (within hard bounds) and the misuse threshold, and clears flags after review;
 * - a renewal charges the requester without a new signature from it: it consented with `maxRenewals` at request.
 *
 * Patient revocation: the linked patient revokes the custodian's custody through {PatientLinks} (the only caller of
 * {revokeCustody}, set by the owner). The study leaves the registry (event {CustodyRevoked}; the record is kept so the
 * ID is never registered again): granted leases end at once ({isLeaseValid} false, and the custodian may record and
 * report later use as after an expiry), new requests, grants, renewals and transfers are refused with
 * {RevokedByPatient}, and a pending request may be cancelled by its requester at once (full refund) or denied. Nothing
 * is swept: revocation moves no tokens, so the conservation invariant holds through it. The market is not consulted:
 * a claim on StudyMarket of the same ID runs to its end (the radiologist already holds the data; see docs/patients.md).
 *
 * Study IDs reuse StudyMarket's issuance: {registerStudy} accepts only an ID the market's current study-ID issuer
 * signed for the caller (the same EIP-712 StudyIdIssuance in the market's domain), so replacing the issuer there
 * voids unused issuances here too, and an ID posted on the market by one RO cannot be registered by another.
 */
contract StudyCustody is Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    enum LeaseStatus {
        None,
        Requested,
        Granted,
        Denied,
        Cancelled
    }

    struct Custody {
        address ro;
        uint40 registeredAt;
        bytes32 manifestHash;
    }

    /// @dev Four slots; uint40 timestamps last until the year 36812.
    struct Lease {
        // slot 0
        bytes32 studyId;
        // slot 1
        address requester; // the requesting RO's principal account
        LeaseStatus status;
        uint8 renewalsLeft;
        uint16 protocolFeeBps; // snapshotted at request
        uint16 storageShareBps; // snapshotted at request
        uint32 period;
        // slot 2
        uint128 fee; // escrowed at request, charged again per renewal
        uint40 requestedAt;
        uint40 expiresAt;
        // slot 3, 4
        uint256 keyId;
        bytes32 wrappedKeyHash;
        bytes32 ciphertextHash;
    }

    uint256 private constant BPS = 10_000;
    /// @notice Hard bounds: even governance cannot set the fee or shares outside them.
    uint256 public constant MAX_RETRIEVAL_FEE = 10_000 * 1e6;
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 2_000;
    uint16 public constant MAX_STORAGE_SHARE_BPS = 3_000;
    uint32 public constant MIN_MISUSE_THRESHOLD = 1;
    uint32 public constant MAX_MISUSE_THRESHOLD = 100;
    uint32 public constant MIN_LEASE_PERIOD = 5 minutes;
    uint32 public constant MAX_LEASE_PERIOD = 365 days;
    uint8 public constant MAX_RENEWALS = 12;
    /// @notice After this long without an answer the requester may cancel its request and get the fee back.
    uint32 public constant REQUEST_TIMEOUT = 7 days;
    bytes32 private constant STUDY_ID_ISSUANCE_TYPEHASH =
        keccak256("StudyIdIssuance(bytes32 studyId,address ro,uint64 issuedUntil)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    IERC20 private immutable _token;
    RoDirectory private immutable _directory;
    StudyMarket private immutable _market;
    address private _treasury;
    uint128 private _retrievalFee;
    uint16 private _protocolFeeBps;
    uint16 private _storageShareBps;
    uint32 private _misuseThreshold;

    uint256 private _storageHeld;
    uint256 private _lastLeaseId;
    mapping(address account => uint256) private _balances;
    mapping(bytes32 studyId => Custody) private _custody;
    mapping(uint256 leaseId => Lease) private _leases;
    mapping(uint256 leaseId => bool) private _misuseReported;
    mapping(address account => uint32) private _misuseCount;
    mapping(address account => bool) private _flagged;
    mapping(bytes32 studyId => uint40) private _revokedAt;
    address private _patientLinks;

    error ZeroAmount();
    error ZeroAddress();
    error InsufficientBalance(uint256 available, uint256 required);
    /// @notice The caller does not act for an admitted, unsuspended RO.
    error NotActiveRoAccount(address caller);
    /// @notice The study ID was not issued to the caller by the market's study-ID issuer (or is zero).
    error StudyIdNotIssued(bytes32 studyId);
    error StudyIdIssuanceExpired(bytes32 studyId, uint64 issuedUntil);
    /// @notice The study is already in custody here, or posted on the market by another RO.
    error StudyAlreadyRegistered(bytes32 studyId);
    error StudyNotRegistered(bytes32 studyId);
    error InvalidManifestHash();
    /// @notice The caller does not act for the study's custodian.
    error NotCustodian(bytes32 studyId, address caller);
    /// @notice The new custodian is not an active RO, or is the current one.
    error InvalidCustodian(address ro);
    /// @notice A custodian cannot lease its own study.
    error OwnStudy(bytes32 studyId);
    /// @notice The key is not a live key of the requesting RO.
    error KeyNotLive(uint256 keyId);
    error InvalidPeriod(uint256 period);
    error TooManyRenewals(uint8 maxRenewals);
    error LeaseNotFound(uint256 leaseId);
    error InvalidLeaseStatus(uint256 leaseId, LeaseStatus status);
    error InvalidGrantHashes();
    /// @notice The caller does not act for the lease's requester.
    error NotRequester(uint256 leaseId, address caller);
    error RequestNotTimedOut(uint256 leaseId, uint64 answerableUntil);
    error LeaseStillValid(uint256 leaseId, uint64 expiresAt);
    error NoRenewalsLeft(uint256 leaseId);
    /// @notice The account reported does not act for the lease's requester.
    error NotLessee(uint256 leaseId, address account);
    error MisuseAlreadyReported(uint256 leaseId);
    /// @notice A fee, share or threshold outside its hard bounds.
    error ParameterOutOfBounds(uint256 value);
    error AccountNotFlagged(address account);
    /// @notice The study's patient revoked its custody at `revokedAt`: no new lease, grant, renewal or transfer.
    error RevokedByPatient(bytes32 studyId, uint64 revokedAt);
    /// @notice Only the PatientLinks contract (set by the owner) revokes custody.
    error NotPatientLinks(address caller);

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event StudyRegistered(bytes32 indexed studyId, address indexed ro, bytes32 manifestHash);
    event CustodyTransferred(bytes32 indexed studyId, address indexed from, address indexed to, address by);
    event LeaseRequested(
        uint256 indexed leaseId,
        bytes32 indexed studyId,
        address indexed requester,
        uint256 keyId,
        uint32 period,
        uint256 fee,
        uint8 maxRenewals
    );
    event LeaseGranted(
        uint256 indexed leaseId,
        bytes32 indexed studyId,
        address indexed custodian,
        uint64 expiresAt,
        bytes32 wrappedKeyHash,
        bytes32 ciphertextHash
    );
    /// @notice The fee of a grant or renewal was paid out: `toCustodian` + `protocolFee` + `storageShare` == fee.
    event LeaseFeePaid(
        uint256 indexed leaseId,
        address indexed custodian,
        uint256 toCustodian,
        uint256 protocolFee,
        uint256 storageShare,
        address treasury
    );
    event LeaseDenied(uint256 indexed leaseId, bytes32 indexed studyId, address indexed custodian, uint256 refund);
    event LeaseRequestCancelled(uint256 indexed leaseId, address indexed requester, uint256 refund);
    event LeaseRenewed(uint256 indexed leaseId, address indexed custodian, uint64 expiresAt, uint8 renewalsLeft);
    /// @notice `account` used (or tried to use) lease `leaseId` after it expired, as the custodian's agent saw.
    event ExpiredUseRecorded(uint256 indexed leaseId, address indexed account, address indexed recorder);
    event MisuseReported(uint256 indexed leaseId, address indexed account, address indexed reporter, uint32 count);
    event AccountFlagged(address indexed account, uint32 count);
    event AccountFlagCleared(address indexed account);
    event TreasuryUpdated(address indexed treasury);
    event ExchangeFeesUpdated(uint256 retrievalFee, uint16 protocolFeeBps, uint16 storageShareBps);
    event MisuseThresholdUpdated(uint32 threshold);
    /// @notice The linked patient revoked `ro`'s custody of the study; storage holders drop it, its leases end.
    event CustodyRevoked(bytes32 indexed studyId, address indexed ro);
    event PatientLinksUpdated(address indexed patientLinks);

    constructor(
        IERC20 token_,
        RoDirectory directory_,
        StudyMarket market_,
        address treasury_,
        address initialOwner
    ) Ownable(initialOwner) {
        if (address(token_) == address(0) || address(directory_) == address(0) || address(market_) == address(0))
            revert ZeroAddress();
        _token = token_;
        _directory = directory_;
        _market = market_;
        _setTreasury(treasury_);
        _setFees(10 * 1e6, 1_000, 1_000);
        _setMisuseThreshold(3);
    }

    // ───────────────────────────── balances ─────────────────────────────

    /// @notice Moves `amount` tokens from the caller (after approve) into the caller's exchange balance.
    function deposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroAmount();
        _balances[msg.sender] += received;
        emit Deposited(msg.sender, received);
    }

    /// @notice Sends `amount` of the caller's exchange balance to the caller.
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

    /// @notice Exchange balance of `account` (an RO's is kept on its principal account).
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    // ───────────────────────────── custody ─────────────────────────────

    /**
     * @notice Registers the custody of a study by the caller's RO.
     * @param studyId an ID the market's study-ID issuer signed for the caller (StudyIdIssuance); never patient data.
     * @param manifestHash hash of the study's encrypted manifest (non-zero).
     */
    function registerStudy(
        bytes32 studyId,
        bytes32 manifestHash,
        uint64 issuedUntil,
        bytes calldata issuance
    ) external {
        address ro = _callerRo();
        if (block.timestamp > issuedUntil) revert StudyIdIssuanceExpired(studyId, issuedUntil);
        bytes32 digest = MessageHashUtils.toTypedDataHash(
            _marketDomainSeparator(),
            keccak256(abi.encode(STUDY_ID_ISSUANCE_TYPEHASH, studyId, msg.sender, issuedUntil))
        );
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, issuance);
        if (studyId == bytes32(0) || err != ECDSA.RecoverError.NoError || signer != _market.studyIdIssuer())
            revert StudyIdNotIssued(studyId);
        if (manifestHash == bytes32(0)) revert InvalidManifestHash();
        if (_custody[studyId].ro != address(0)) revert StudyAlreadyRegistered(studyId);
        // one notion of ownership: an ID the market already holds must have been posted by this RO
        address poster = _market.getStudy(studyId).ro;
        if (poster != address(0) && _directory.roOf(poster) != ro) revert StudyAlreadyRegistered(studyId);
        _custody[studyId] = Custody(ro, uint40(block.timestamp), manifestHash);
        emit StudyRegistered(studyId, ro, manifestHash);
    }

    /// @notice The custodian hands the study to another active RO (e.g. an acquisition). Pending requests are then
    /// answered by the new custodian; granted leases run on.
    function transferCustody(bytes32 studyId, address newRo) external {
        address ro = _custodianCaller(studyId);
        _requireNotRevoked(studyId);
        if (newRo == ro || !_directory.isActive(newRo)) revert InvalidCustodian(newRo);
        _custody[studyId].ro = newRo;
        emit CustodyTransferred(studyId, ro, newRo, msg.sender);
    }

    function custodyOf(bytes32 studyId) external view returns (Custody memory) {
        return _custody[studyId];
    }

    /**
     * @notice The study's linked patient revoked the custodian's custody (called by {PatientLinks} after it checked
     * the patient's proof). The study leaves the registry; its leases end; see the contract notes.
     * @dev HAZARD: the record stays (custodyOf still names the RO, for history, denials and misuse reports) and the
     * ID can never be registered again; the patient's next RO registers the study under a new issued ID.
     */
    function revokeCustody(bytes32 studyId) external {
        if (msg.sender != _patientLinks) revert NotPatientLinks(msg.sender); // unset: zero, never a caller
        address ro = _custody[studyId].ro;
        if (ro == address(0)) revert StudyNotRegistered(studyId);
        _requireNotRevoked(studyId);
        _revokedAt[studyId] = uint40(block.timestamp);
        emit CustodyRevoked(studyId, ro);
    }

    /// @notice When the patient revoked the study's custody (0: not revoked).
    function revokedAt(bytes32 studyId) external view returns (uint64) {
        return _revokedAt[studyId];
    }

    // ───────────────────────────── leases ─────────────────────────────

    /**
     * @notice The caller's RO asks the custodian for a lease of `studyId` for `period` seconds, the lease key to be
     * wrapped to its registered key `keyId`; the current retrieval fee is escrowed from the RO's balance.
     * @param maxRenewals how many renewals the custodian may charge later at the same fee (consent given now).
     */
    function requestLease(
        bytes32 studyId,
        uint32 period,
        uint256 keyId,
        uint8 maxRenewals
    ) external returns (uint256 leaseId) {
        address ro = _callerRo();
        address custodian = _custody[studyId].ro;
        if (custodian == address(0)) revert StudyNotRegistered(studyId);
        _requireNotRevoked(studyId);
        if (custodian == ro) revert OwnStudy(studyId);
        if (!_directory.isLiveKeyOf(keyId, ro)) revert KeyNotLive(keyId);
        if (period < MIN_LEASE_PERIOD || period > MAX_LEASE_PERIOD) revert InvalidPeriod(period);
        if (maxRenewals > MAX_RENEWALS) revert TooManyRenewals(maxRenewals);
        uint128 fee = _retrievalFee;
        uint256 available = _balances[ro];
        if (available < fee) revert InsufficientBalance(available, fee);
        unchecked {
            _balances[ro] = available - fee;
        }
        leaseId = ++_lastLeaseId;
        Lease storage l = _leases[leaseId];
        l.studyId = studyId;
        l.requester = ro;
        l.status = LeaseStatus.Requested;
        l.renewalsLeft = maxRenewals;
        l.protocolFeeBps = _protocolFeeBps;
        l.storageShareBps = _storageShareBps;
        l.period = period;
        l.fee = fee;
        l.requestedAt = uint40(block.timestamp);
        l.keyId = keyId;
        emit LeaseRequested(leaseId, studyId, ro, keyId, period, fee, maxRenewals);
    }

    /**
     * @notice The custodian grants a requested lease for its requested period from now, recording the hashes of the
     * lease key wrapped to the requester's key and of the ciphertext, and is paid the fee (see {LeaseFeePaid}).
     * @dev The requester's key must still be live: a key revoked since the request gets no grant (request again).
     */
    function grantLease(uint256 leaseId, bytes32 wrappedKeyHash, bytes32 ciphertextHash) external {
        Lease storage l = _requestedLease(leaseId);
        address custodian = _custodianCaller(l.studyId);
        _requireNotRevoked(l.studyId);
        if (wrappedKeyHash == bytes32(0) || ciphertextHash == bytes32(0)) revert InvalidGrantHashes();
        if (!_directory.isLiveKeyOf(l.keyId, l.requester)) revert KeyNotLive(l.keyId);
        uint40 expiresAt = uint40(block.timestamp + l.period);
        l.status = LeaseStatus.Granted;
        l.expiresAt = expiresAt;
        l.wrappedKeyHash = wrappedKeyHash;
        l.ciphertextHash = ciphertextHash;
        emit LeaseGranted(leaseId, l.studyId, custodian, expiresAt, wrappedKeyHash, ciphertextHash);
        _payFee(leaseId, l, custodian);
    }

    /// @notice The custodian refuses a requested lease; the escrowed fee returns to the requester.
    function denyLease(uint256 leaseId) external {
        Lease storage l = _requestedLease(leaseId);
        address custodian = _custodianCaller(l.studyId);
        l.status = LeaseStatus.Denied;
        uint256 refund = l.fee;
        _balances[l.requester] += refund;
        emit LeaseDenied(leaseId, l.studyId, custodian, refund);
    }

    /// @notice The requester withdraws a request nobody answered within REQUEST_TIMEOUT (or at once once the patient
    /// revoked the study's custody: it can never be granted); the fee is refunded.
    function cancelLeaseRequest(uint256 leaseId) external {
        Lease storage l = _requestedLease(leaseId);
        if (_directory.roOf(msg.sender) != l.requester) revert NotRequester(leaseId, msg.sender);
        uint64 answerableUntil = uint64(l.requestedAt) + REQUEST_TIMEOUT;
        if (block.timestamp <= answerableUntil && _revokedAt[l.studyId] == 0)
            revert RequestNotTimedOut(leaseId, answerableUntil);
        l.status = LeaseStatus.Cancelled;
        uint256 refund = l.fee;
        _balances[l.requester] += refund;
        emit LeaseRequestCancelled(leaseId, l.requester, refund);
    }

    /**
     * @notice The custodian extends a granted lease by its period (from its expiry, or from now if it has expired),
     * charging the requester's balance the fee snapshotted at request, paid out at once like a grant. Uses one of
     * the renewals the requester allowed. The lease key stays the same (its wrapped-key hash is unchanged).
     */
    function renewLease(uint256 leaseId) external {
        Lease storage l = _leases[leaseId];
        LeaseStatus status = l.status;
        if (status == LeaseStatus.None) revert LeaseNotFound(leaseId);
        if (status != LeaseStatus.Granted) revert InvalidLeaseStatus(leaseId, status);
        address custodian = _custodianCaller(l.studyId);
        _requireNotRevoked(l.studyId);
        if (l.renewalsLeft == 0) revert NoRenewalsLeft(leaseId);
        uint256 fee = l.fee;
        address requester = l.requester;
        uint256 available = _balances[requester];
        if (available < fee) revert InsufficientBalance(available, fee);
        unchecked {
            _balances[requester] = available - fee;
            l.renewalsLeft -= 1;
        }
        uint256 from = l.expiresAt > block.timestamp ? l.expiresAt : block.timestamp;
        uint40 expiresAt = uint40(from + l.period);
        l.expiresAt = expiresAt;
        emit LeaseRenewed(leaseId, custodian, expiresAt, l.renewalsLeft);
        _payFee(leaseId, l, custodian);
    }

    /// @notice The custodian's agent records that `account` used (or tried) the lease after it expired.
    function recordExpiredUse(uint256 leaseId, address account) external {
        Lease storage l = _expiredLease(leaseId);
        _custodianCaller(l.studyId);
        if (_directory.roOf(account) != l.requester) revert NotLessee(leaseId, account);
        emit ExpiredUseRecorded(leaseId, account, msg.sender);
    }

    /**
     * @notice The custodian reports `account` (acting for the lessee) for misuse of an expired lease, once per
     * lease. The account's count goes up; reaching the DAO's threshold flags it for review.
     */
    function reportMisuse(uint256 leaseId, address account) external {
        Lease storage l = _expiredLease(leaseId);
        _custodianCaller(l.studyId);
        if (_directory.roOf(account) != l.requester) revert NotLessee(leaseId, account);
        if (_misuseReported[leaseId]) revert MisuseAlreadyReported(leaseId);
        _misuseReported[leaseId] = true;
        uint32 count = _misuseCount[account] + 1;
        _misuseCount[account] = count;
        emit MisuseReported(leaseId, account, msg.sender, count);
        if (count >= _misuseThreshold && !_flagged[account]) {
            _flagged[account] = true;
            emit AccountFlagged(account, count);
        }
    }

    function leaseOf(uint256 leaseId) external view returns (Lease memory) {
        return _leases[leaseId];
    }

    /// @notice Whether lease `leaseId` is granted, not expired (chain time) and its study's custody not revoked.
    function isLeaseValid(uint256 leaseId) external view returns (bool) {
        Lease storage l = _leases[leaseId];
        return l.status == LeaseStatus.Granted && block.timestamp <= l.expiresAt && _revokedAt[l.studyId] == 0;
    }

    function lastLeaseId() external view returns (uint256) {
        return _lastLeaseId;
    }

    /// @notice Misuse reports against `account` and whether it is flagged for review.
    function misuseOf(address account) external view returns (uint32 count, bool flagged) {
        return (_misuseCount[account], _flagged[account]);
    }

    /// @notice The storage-holder share collected so far (held here for the storage contract of a later step).
    function storageHeld() external view returns (uint256) {
        return _storageHeld;
    }

    // ───────────────────────────── parameters ─────────────────────────────

    function fees() external view returns (uint256 retrievalFee, uint16 protocolFeeBps, uint16 storageShareBps) {
        return (_retrievalFee, _protocolFeeBps, _storageShareBps);
    }

    function misuseThreshold() external view returns (uint32) {
        return _misuseThreshold;
    }

    function token() external view returns (IERC20) {
        return _token;
    }

    function directory() external view returns (RoDirectory) {
        return _directory;
    }

    function market() external view returns (StudyMarket) {
        return _market;
    }

    function treasury() external view returns (address) {
        return _treasury;
    }

    function patientLinks() external view returns (address) {
        return _patientLinks;
    }

    /// @notice The contract whose verified patient revocations end custody ({revokeCustody}).
    /// @dev HAZARD: it can revoke any study's custody; only a reviewed PatientLinks deployment belongs here.
    function setPatientLinks(address newPatientLinks) external onlyOwner {
        if (newPatientLinks == address(0)) revert ZeroAddress();
        _patientLinks = newPatientLinks;
        emit PatientLinksUpdated(newPatientLinks);
    }

    /// @notice Fee and shares of requests from now on (requests already made keep theirs).
    function setFees(uint256 retrievalFee, uint16 protocolFeeBps, uint16 storageShareBps) external onlyOwner {
        _setFees(retrievalFee, protocolFeeBps, storageShareBps);
    }

    /// @notice Reports needed to flag an account; accounts already over a raised threshold stay flagged.
    function setMisuseThreshold(uint32 threshold) external onlyOwner {
        _setMisuseThreshold(threshold);
    }

    /// @notice Where protocol fees are credited from now on.
    function setTreasury(address newTreasury) external onlyOwner {
        _setTreasury(newTreasury);
    }

    /// @notice After review the DAO clears a flag; the count stays (the next report flags the account again).
    function clearFlag(address account) external onlyOwner {
        if (!_flagged[account]) revert AccountNotFlagged(account);
        _flagged[account] = false;
        emit AccountFlagCleared(account);
    }

    // ───────────────────────────── internals ─────────────────────────────

    /// @dev toCustodian + protocolFee + storageShare == fee: each fee is split exactly once per grant or renewal.
    function _payFee(uint256 leaseId, Lease storage l, address custodian) private {
        uint256 fee = l.fee;
        uint256 protocolFee = (fee * l.protocolFeeBps) / BPS;
        uint256 storageShare = (fee * l.storageShareBps) / BPS;
        uint256 toCustodian = fee - protocolFee - storageShare;
        address treasury_ = _treasury;
        if (toCustodian != 0) _balances[custodian] += toCustodian;
        if (protocolFee != 0) _balances[treasury_] += protocolFee;
        _storageHeld += storageShare;
        emit LeaseFeePaid(leaseId, custodian, toCustodian, protocolFee, storageShare, treasury_);
    }

    function _callerRo() private view returns (address ro) {
        ro = _directory.activeRoOf(msg.sender);
        if (ro == address(0)) revert NotActiveRoAccount(msg.sender);
    }

    /// @dev The custodian of a registered study, if the caller acts for it (and it is active).
    function _custodianCaller(bytes32 studyId) private view returns (address custodian) {
        custodian = _custody[studyId].ro;
        if (custodian == address(0)) revert StudyNotRegistered(studyId);
        if (_callerRo() != custodian) revert NotCustodian(studyId, msg.sender);
    }

    function _requestedLease(uint256 leaseId) private view returns (Lease storage l) {
        l = _leases[leaseId];
        LeaseStatus status = l.status;
        if (status == LeaseStatus.None) revert LeaseNotFound(leaseId);
        if (status != LeaseStatus.Requested) revert InvalidLeaseStatus(leaseId, status);
    }

    function _expiredLease(uint256 leaseId) private view returns (Lease storage l) {
        l = _leases[leaseId];
        LeaseStatus status = l.status;
        if (status == LeaseStatus.None) revert LeaseNotFound(leaseId);
        if (status != LeaseStatus.Granted) revert InvalidLeaseStatus(leaseId, status);
        // a revoked study's leases ended at revocation: later use is reportable as after an expiry
        if (block.timestamp <= l.expiresAt && _revokedAt[l.studyId] == 0) revert LeaseStillValid(leaseId, l.expiresAt);
    }

    function _requireNotRevoked(bytes32 studyId) private view {
        uint40 revokedAt_ = _revokedAt[studyId];
        if (revokedAt_ != 0) revert RevokedByPatient(studyId, revokedAt_);
    }

    /// @dev StudyMarket's EIP-712 domain (name and version as in its constructor), so its issuances verify here.
    function _marketDomainSeparator() private view returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    DOMAIN_TYPEHASH,
                    keccak256("OpenRead StudyMarket"),
                    keccak256("1"),
                    block.chainid,
                    address(_market)
                )
            );
    }

    function _setFees(uint256 retrievalFee, uint16 protocolFeeBps, uint16 storageShareBps) private {
        if (retrievalFee > MAX_RETRIEVAL_FEE) revert ParameterOutOfBounds(retrievalFee);
        if (protocolFeeBps > MAX_PROTOCOL_FEE_BPS) revert ParameterOutOfBounds(protocolFeeBps);
        if (storageShareBps > MAX_STORAGE_SHARE_BPS) revert ParameterOutOfBounds(storageShareBps);
        _retrievalFee = uint128(retrievalFee); // bounded above
        _protocolFeeBps = protocolFeeBps;
        _storageShareBps = storageShareBps;
        emit ExchangeFeesUpdated(retrievalFee, protocolFeeBps, storageShareBps);
    }

    function _setMisuseThreshold(uint32 threshold) private {
        if (threshold < MIN_MISUSE_THRESHOLD || threshold > MAX_MISUSE_THRESHOLD) revert ParameterOutOfBounds(threshold);
        _misuseThreshold = threshold;
        emit MisuseThresholdUpdated(threshold);
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert ZeroAddress();
        _treasury = newTreasury;
        emit TreasuryUpdated(newTreasury);
    }
}
