// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {StudyCustody} from "../exchange/StudyCustody.sol";
import {RoDirectory} from "../exchange/RoDirectory.sol";
import {PatientLinks} from "./PatientLinks.sol";

/**
 * @title ResearchPools
 * @notice Research and teaching pools of de-identified studies, with compensation for the consenting patients.
 *
 * The DAO (owner: the timelock) creates a pool: the hash of its purpose statement, the modality and body part it wants,
 * the price per study and how each price is split between the patient, the releasing RO and the treasury (bounded).
 * A linked patient consents per pool and study with an EIP-712 signature of the study's link account (see
 * PatientLinks), naming the payee of its compensation, and may withdraw consent (future releases stop). A researcher
 * buys a number of studies: the price is escrowed here. The custodian RO releases studies into a purchase by link
 * commitment, only while the link is live and the consent given; each release splits the price at once: RO and
 * treasury shares are credited to their balances here, the patient share accrues to the open epoch's pot. A
 * distributor closes an epoch by publishing the Merkle root of (index, payee, amount) over that epoch's releases; each
 * payee's amount is then claimed by anyone (the relayer: patients never need ETH) with a proof and paid to the payee.
 *
 * @dev Pull payments: only {withdraw} and {claim} send tokens. Invariant (fuzzed): token.balanceOf(this) == sum of
 * balances + escrow of open purchases ((quantity − released) × price) + sum over epochs of (total − claimed).
 * Claims are one per (epoch, index) (a bitmap) and an epoch's claims never exceed its pot. HAZARDS:
 * - the distributor is trusted with the split of each epoch's pot among payees: a wrong root misdirects at most that
 *   pot. Anyone can recompute the root from {StudyReleased} events and {releasedPayee}; the owner replaces a
 *   distributor, and a published root is final (claims against it may already have been paid);
 * - unclaimed compensation stays here (counted in the invariant); there is no sweep;
 * - the pool's modality and body part are stated, not checked: the RO attests that a study matches when it releases
 *   it; de-identification and the k-anonymity check of the released metadata happen off chain before release;
 * - the payee is an account on chain (the token's Transfer names it): a patient who uses one payee for two studies
 *   links them; the patient console uses the study's link account or a fresh address per study;
 * - an admitted RO can link studies to link accounts it controls itself and so collect the patient share of what it
 *   releases: the chain sees a valid signature, not a real patient. RO admission, the researcher's review of what it
 *   receives and a dispute path (not built) are the defence;
 * - fee-on-transfer and rebasing tokens are unsupported (escrow is the price times the quantity);
 * - consent and withdrawal signatures carry the consent's nonce, so a withdrawn consent's signature cannot be replayed.
 */
contract ResearchPools is Ownable2Step, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;

    struct Pool {
        bytes32 purposeHash;
        uint128 pricePerStudy;
        uint16 patientBps;
        uint16 roBps;
        uint16 treasuryBps;
        uint8 modality; // index in XR CT MR US MG NM PET
        bool closed;
        bytes16 bodyPart; // DICOM Body Part Examined code string, e.g. "CHEST"
    }

    struct Purchase {
        uint256 poolId;
        address researcher;
        uint32 quantity;
        uint32 released;
        uint40 purchasedAt;
        bool refunded;
        uint128 price; // per study, snapshotted at purchase
    }

    struct Consent {
        address payee; // zero: no live consent
        uint64 nonce; // moves on every consent and withdrawal
    }

    struct Epoch {
        bytes32 root;
        uint128 total; // patient shares released in the epoch
        uint128 claimed;
    }

    uint256 private constant BPS = 10_000;
    uint8 private constant MODALITIES = 7;
    /// @notice Hard bounds: even governance cannot create a pool outside them.
    uint16 public constant MIN_PATIENT_SHARE_BPS = 5_000;
    uint16 public constant MAX_TREASURY_SHARE_BPS = 1_000;
    uint256 public constant MAX_PRICE_PER_STUDY = 100_000 * 1e6;
    uint32 public constant MAX_QUANTITY = 1_000_000;
    /// @notice After this long a researcher may take back the escrow of studies not yet released.
    uint32 public constant PURCHASE_TERM = 90 days;
    bytes32 private constant POOL_CONSENT_TYPEHASH =
        keccak256("PoolConsent(uint256 poolId,bytes32 studyId,address payee,uint64 nonce,uint256 deadline)");
    bytes32 private constant CONSENT_WITHDRAWAL_TYPEHASH =
        keccak256("ConsentWithdrawal(uint256 poolId,bytes32 studyId,uint64 nonce,uint256 deadline)");

    IERC20 private immutable _token;
    StudyCustody private immutable _custody;
    RoDirectory private immutable _directory;
    PatientLinks private immutable _links;
    address private _treasury;
    address private _distributor;

    uint256 private _lastPoolId;
    uint256 private _lastPurchaseId;
    uint256 private _currentEpoch; // the open epoch, collecting patient shares
    mapping(uint256 poolId => Pool) private _pools;
    mapping(uint256 purchaseId => Purchase) private _purchases;
    mapping(uint256 poolId => mapping(bytes32 commitment => Consent)) private _consents;
    mapping(uint256 purchaseId => mapping(bytes32 commitment => address payee)) private _released;
    mapping(uint256 epoch => Epoch) private _epochs;
    mapping(uint256 epoch => mapping(uint256 wordIndex => uint256 bits)) private _claimedBitmap;
    mapping(address account => uint256) private _balances;

    error ZeroAddress();
    error ZeroAmount();
    error InsufficientBalance(uint256 available, uint256 required);
    error InvalidPurpose();
    /// @notice Shares must add up to 100 %, the patient's at least MIN_PATIENT_SHARE_BPS, the treasury's at most
    /// MAX_TREASURY_SHARE_BPS.
    error InvalidShares(uint16 patientBps, uint16 roBps, uint16 treasuryBps);
    error ParameterOutOfBounds(uint256 value);
    error PoolNotFound(uint256 poolId);
    error PoolClosed(uint256 poolId);
    /// @notice The study is not linked (accepted, not revoked), or (account, salt) do not open its commitment.
    error NotLinkedPatient(bytes32 studyId);
    error SignatureExpired(uint256 deadline);
    error InvalidPatientSignature(bytes32 studyId);
    error ConsentAlreadyGiven(uint256 poolId, bytes32 commitment);
    error NoLiveConsent(uint256 poolId, bytes32 commitment);
    error PurchaseNotFound(uint256 purchaseId);
    /// @notice The purchase was refunded: nothing more is released into it.
    error PurchaseClosed(uint256 purchaseId);
    error PurchaseExhausted(uint256 purchaseId, uint32 remaining);
    error NotResearcher(uint256 purchaseId, address caller);
    error PurchaseStillOpen(uint256 purchaseId, uint64 openUntil);
    /// @notice The caller does not act for an admitted, unsuspended RO.
    error NotActiveRoAccount(address caller);
    /// @notice The commitment is not a live link of a study in the caller's RO's custody.
    error NotReleasable(bytes32 commitment);
    error AlreadyReleased(uint256 purchaseId, bytes32 commitment);
    error NotDistributor(address caller);
    error InvalidRoot();
    error EmptyEpoch(uint256 epoch);
    error EpochNotPublished(uint256 epoch);
    error AlreadyClaimed(uint256 epoch, uint256 index);
    error InvalidProof(uint256 epoch, uint256 index);
    /// @notice A claim would take the epoch's claims over its pot (a wrong root).
    error ExceedsEpochTotal(uint256 epoch, uint256 remaining);

    event PoolCreated(
        uint256 indexed poolId,
        bytes32 purposeHash,
        uint8 modality,
        bytes16 bodyPart,
        uint256 pricePerStudy,
        uint16 patientBps,
        uint16 roBps,
        uint16 treasuryBps
    );
    event PoolClosedByOwner(uint256 indexed poolId);
    event ConsentGiven(uint256 indexed poolId, bytes32 indexed commitment, uint64 nonce);
    event ConsentWithdrawn(uint256 indexed poolId, bytes32 indexed commitment, uint64 nonce);
    event AccessPurchased(
        uint256 indexed purchaseId,
        uint256 indexed poolId,
        address indexed researcher,
        uint32 quantity,
        uint256 pricePerStudy
    );
    event PurchaseRefunded(uint256 indexed purchaseId, address indexed researcher, uint32 unreleased, uint256 refund);
    /// @notice One study released into a purchase; its payee is readable with {releasedPayee}.
    event StudyReleased(uint256 indexed purchaseId, bytes32 indexed commitment, address indexed ro, uint256 epoch);
    /// @notice The prices of `count` studies released at once were split: toRo + toTreasury + toPatients == count × price.
    event ReleasePaid(
        uint256 indexed purchaseId,
        address indexed ro,
        uint32 count,
        uint256 toRo,
        uint256 toTreasury,
        uint256 toPatients,
        uint256 epoch
    );
    event EpochPublished(uint256 indexed epoch, bytes32 root, uint256 total);
    event CompensationClaimed(uint256 indexed epoch, uint256 indexed index, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event TreasuryUpdated(address indexed treasury);
    event DistributorUpdated(address indexed distributor);

    constructor(
        IERC20 token_,
        PatientLinks links_,
        address treasury_,
        address distributor_,
        address initialOwner
    ) Ownable(initialOwner) EIP712("OpenRead ResearchPools", "1") {
        if (address(token_) == address(0) || address(links_) == address(0)) revert ZeroAddress();
        _token = token_;
        _links = links_;
        _custody = links_.custody();
        _directory = _custody.directory();
        _setTreasury(treasury_);
        _distributor = distributor_; // zero: only the owner publishes until a proposal appoints one
        emit DistributorUpdated(distributor_);
        _currentEpoch = 1;
    }

    // ───────────────────────────── pools (governed) ─────────────────────────────

    /// @notice Creates a pool (an executed DAO proposal). Shares are in basis points and add up to 10,000.
    function createPool(
        bytes32 purposeHash,
        uint8 modality,
        bytes16 bodyPart,
        uint256 pricePerStudy,
        uint16 patientBps,
        uint16 roBps,
        uint16 treasuryBps
    ) external onlyOwner returns (uint256 poolId) {
        if (purposeHash == bytes32(0)) revert InvalidPurpose();
        if (modality >= MODALITIES) revert ParameterOutOfBounds(modality);
        if (pricePerStudy == 0 || pricePerStudy > MAX_PRICE_PER_STUDY) revert ParameterOutOfBounds(pricePerStudy);
        if (
            uint256(patientBps) + roBps + treasuryBps != BPS ||
            patientBps < MIN_PATIENT_SHARE_BPS ||
            treasuryBps > MAX_TREASURY_SHARE_BPS
        ) revert InvalidShares(patientBps, roBps, treasuryBps);
        poolId = ++_lastPoolId;
        _pools[poolId] = Pool(
            purposeHash,
            uint128(pricePerStudy),
            patientBps,
            roBps,
            treasuryBps,
            modality,
            false,
            bodyPart
        );
        emit PoolCreated(poolId, purposeHash, modality, bodyPart, pricePerStudy, patientBps, roBps, treasuryBps);
    }

    /// @notice No new consents or purchases; purchases made may still be filled, or refunded at once.
    function closePool(uint256 poolId) external onlyOwner {
        Pool storage pool = _openPool(poolId);
        pool.closed = true;
        emit PoolClosedByOwner(poolId);
    }

    // ───────────────────────────── consent (patients, gasless) ─────────────────────────────

    /**
     * @notice The study's linked patient consents to releases of the study into pool `poolId`, compensation to
     * `payee`. `account`/`salt` open the study's link commitment; `account` signed PoolConsent(poolId, studyId,
     * payee, nonce, deadline) with the consent's current nonce (not needed when `account` is the caller).
     */
    function consent(
        uint256 poolId,
        bytes32 studyId,
        address account,
        bytes32 salt,
        address payee,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _openPool(poolId);
        if (payee == address(0)) revert ZeroAddress();
        if (!_links.isLinked(studyId) || !_links.opens(studyId, account, salt)) revert NotLinkedPatient(studyId);
        bytes32 commitment = _links.linkOf(studyId).commitment;
        Consent storage c = _consents[poolId][commitment];
        if (c.payee != address(0)) revert ConsentAlreadyGiven(poolId, commitment);
        uint64 nonce = c.nonce;
        _checkSignature(
            account,
            studyId,
            keccak256(abi.encode(POOL_CONSENT_TYPEHASH, poolId, studyId, payee, nonce, deadline)),
            deadline,
            signature
        );
        c.payee = payee;
        c.nonce = nonce + 1;
        emit ConsentGiven(poolId, commitment, nonce + 1);
    }

    /// @notice Withdraws a consent: no further release of the study into the pool (releases made stay paid).
    /// `account` signed ConsentWithdrawal(poolId, studyId, nonce, deadline) (or is the caller).
    function withdrawConsent(
        uint256 poolId,
        bytes32 studyId,
        address account,
        bytes32 salt,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (!_links.opens(studyId, account, salt)) revert NotLinkedPatient(studyId);
        bytes32 commitment = _links.linkOf(studyId).commitment;
        Consent storage c = _consents[poolId][commitment];
        if (c.payee == address(0)) revert NoLiveConsent(poolId, commitment);
        uint64 nonce = c.nonce;
        _checkSignature(
            account,
            studyId,
            keccak256(abi.encode(CONSENT_WITHDRAWAL_TYPEHASH, poolId, studyId, nonce, deadline)),
            deadline,
            signature
        );
        c.payee = address(0);
        c.nonce = nonce + 1;
        emit ConsentWithdrawn(poolId, commitment, nonce + 1);
    }

    // ───────────────────────────── purchases (researchers) ─────────────────────────────

    /// @notice Buys `quantity` studies of an open pool; quantity × price is escrowed from the caller (after approve).
    function purchase(uint256 poolId, uint32 quantity) external nonReentrant returns (uint256 purchaseId) {
        Pool storage pool = _openPool(poolId);
        if (quantity == 0 || quantity > MAX_QUANTITY) revert ParameterOutOfBounds(quantity);
        uint128 price = pool.pricePerStudy;
        purchaseId = ++_lastPurchaseId;
        _purchases[purchaseId] = Purchase(poolId, msg.sender, quantity, 0, uint40(block.timestamp), false, price);
        _token.safeTransferFrom(msg.sender, address(this), uint256(price) * quantity);
        emit AccessPurchased(purchaseId, poolId, msg.sender, quantity, price);
    }

    /// @notice After PURCHASE_TERM (or once the pool is closed) the researcher takes back the escrow of the studies
    /// not released; nothing more is released into the purchase.
    function refundPurchase(uint256 purchaseId) external {
        Purchase storage p = _livePurchase(purchaseId);
        if (msg.sender != p.researcher) revert NotResearcher(purchaseId, msg.sender);
        uint64 openUntil = uint64(p.purchasedAt) + PURCHASE_TERM;
        if (block.timestamp <= openUntil && !_pools[p.poolId].closed) revert PurchaseStillOpen(purchaseId, openUntil);
        p.refunded = true;
        uint32 unreleased = p.quantity - p.released;
        uint256 refund = uint256(p.price) * unreleased;
        _balances[p.researcher] += refund;
        emit PurchaseRefunded(purchaseId, p.researcher, unreleased, refund);
    }

    // ───────────────────────────── releases (ROs) ─────────────────────────────

    /**
     * @notice The caller's RO releases studies it holds into a purchase, by link commitment: each must be a live link
     * (accepted, custody not revoked) with a live consent to the purchase's pool, released once per purchase. The
     * de-identified copies go to the researcher off chain (the lease mechanism).
     */
    function release(uint256 purchaseId, bytes32[] calldata commitments) external {
        address ro = _directory.activeRoOf(msg.sender);
        if (ro == address(0)) revert NotActiveRoAccount(msg.sender);
        Purchase storage p = _livePurchase(purchaseId);
        uint32 count = uint32(commitments.length);
        if (count == 0) revert ZeroAmount();
        uint32 remaining = p.quantity - p.released;
        if (commitments.length > remaining) revert PurchaseExhausted(purchaseId, remaining);
        uint256 poolId = p.poolId;
        uint256 epoch = _currentEpoch;
        for (uint256 i; i < commitments.length; ++i) {
            bytes32 commitment = commitments[i];
            bytes32 studyId = _links.studyOf(commitment);
            if (
                studyId == bytes32(0) ||
                _links.linkOf(studyId).commitment != commitment ||
                !_links.isLinked(studyId) ||
                _custody.custodyOf(studyId).ro != ro
            ) revert NotReleasable(commitment);
            address payee = _consents[poolId][commitment].payee;
            if (payee == address(0)) revert NoLiveConsent(poolId, commitment);
            if (_released[purchaseId][commitment] != address(0)) revert AlreadyReleased(purchaseId, commitment);
            _released[purchaseId][commitment] = payee;
            emit StudyReleased(purchaseId, commitment, ro, epoch);
        }
        p.released += count;
        Pool storage pool = _pools[poolId];
        uint256 gross = uint256(p.price) * count;
        uint256 toPatients = ((uint256(p.price) * pool.patientBps) / BPS) * count;
        uint256 toTreasury = ((uint256(p.price) * pool.treasuryBps) / BPS) * count;
        uint256 toRo = gross - toPatients - toTreasury; // the RO takes the rounding
        _epochs[epoch].total += uint128(toPatients); // bounded by MAX_PRICE_PER_STUDY × MAX_QUANTITY per purchase
        if (toRo != 0) _balances[ro] += toRo;
        if (toTreasury != 0) _balances[_treasury] += toTreasury;
        emit ReleasePaid(purchaseId, ro, count, toRo, toTreasury, toPatients, epoch);
    }

    // ───────────────────────────── compensation (Merkle distributor) ─────────────────────────────

    /**
     * @notice Closes the open epoch with the Merkle root over its payees' amounts and opens the next. Leaves are
     * keccak256(bytes.concat(keccak256(abi.encode(index, payee, amount)))) (OpenZeppelin's StandardMerkleTree), sorted
     * pair hashing; the amounts should add up to the epoch's total ({epochOf}).
     */
    function publishEpoch(bytes32 root) external returns (uint256 epoch) {
        if (msg.sender != _distributor && msg.sender != owner()) revert NotDistributor(msg.sender);
        if (root == bytes32(0)) revert InvalidRoot();
        epoch = _currentEpoch;
        Epoch storage e = _epochs[epoch];
        if (e.total == 0) revert EmptyEpoch(epoch);
        e.root = root;
        _currentEpoch = epoch + 1;
        emit EpochPublished(epoch, root, e.total);
    }

    /// @notice Pays `amount` to `account` for leaf `index` of epoch `epoch`; anyone may submit (gasless for patients).
    function claim(
        uint256 epoch,
        uint256 index,
        address account,
        uint256 amount,
        bytes32[] calldata proof
    ) external nonReentrant {
        Epoch storage e = _epochs[epoch];
        bytes32 root = e.root;
        if (root == bytes32(0)) revert EpochNotPublished(epoch);
        if (isClaimed(epoch, index)) revert AlreadyClaimed(epoch, index);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof(epoch, index);
        uint256 remaining = e.total - e.claimed;
        if (amount > remaining) revert ExceedsEpochTotal(epoch, remaining);
        _claimedBitmap[epoch][index >> 8] |= 1 << (index & 0xff);
        e.claimed += uint128(amount);
        _token.safeTransfer(account, amount);
        emit CompensationClaimed(epoch, index, amount);
    }

    function isClaimed(uint256 epoch, uint256 index) public view returns (bool) {
        return (_claimedBitmap[epoch][index >> 8] >> (index & 0xff)) & 1 == 1;
    }

    // ───────────────────────────── balances ─────────────────────────────

    /// @notice Sends `amount` of the caller's balance (RO and treasury shares, researcher refunds) to the caller.
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

    // ───────────────────────────── views and parameters ─────────────────────────────

    function poolOf(uint256 poolId) external view returns (Pool memory) {
        return _pools[poolId];
    }

    function purchaseOf(uint256 purchaseId) external view returns (Purchase memory) {
        return _purchases[purchaseId];
    }

    function consentOf(uint256 poolId, bytes32 commitment) external view returns (Consent memory) {
        return _consents[poolId][commitment];
    }

    /// @notice The payee a study's release into a purchase compensates (zero: not released).
    function releasedPayee(uint256 purchaseId, bytes32 commitment) external view returns (address) {
        return _released[purchaseId][commitment];
    }

    function epochOf(uint256 epoch) external view returns (Epoch memory) {
        return _epochs[epoch];
    }

    function currentEpoch() external view returns (uint256) {
        return _currentEpoch;
    }

    function lastPoolId() external view returns (uint256) {
        return _lastPoolId;
    }

    function lastPurchaseId() external view returns (uint256) {
        return _lastPurchaseId;
    }

    function token() external view returns (IERC20) {
        return _token;
    }

    function links() external view returns (PatientLinks) {
        return _links;
    }

    function treasury() external view returns (address) {
        return _treasury;
    }

    function distributor() external view returns (address) {
        return _distributor;
    }

    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice Where treasury shares are credited from now on.
    function setTreasury(address newTreasury) external onlyOwner {
        _setTreasury(newTreasury);
    }

    /// @notice Who publishes epoch roots besides the owner (zero: the owner only).
    function setDistributor(address newDistributor) external onlyOwner {
        _distributor = newDistributor;
        emit DistributorUpdated(newDistributor);
    }

    // ───────────────────────────── internals ─────────────────────────────

    function _openPool(uint256 poolId) private view returns (Pool storage pool) {
        pool = _pools[poolId];
        if (pool.purposeHash == bytes32(0)) revert PoolNotFound(poolId);
        if (pool.closed) revert PoolClosed(poolId);
    }

    function _livePurchase(uint256 purchaseId) private view returns (Purchase storage p) {
        p = _purchases[purchaseId];
        if (p.researcher == address(0)) revert PurchaseNotFound(purchaseId);
        if (p.refunded) revert PurchaseClosed(purchaseId);
    }

    function _checkSignature(
        address account,
        bytes32 studyId,
        bytes32 structHash,
        uint256 deadline,
        bytes calldata signature
    ) private view {
        if (msg.sender == account) return;
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (!SignatureChecker.isValidSignatureNowCalldata(account, _hashTypedDataV4(structHash), signature))
            revert InvalidPatientSignature(studyId);
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert ZeroAddress();
        _treasury = newTreasury;
        emit TreasuryUpdated(newTreasury);
    }
}
