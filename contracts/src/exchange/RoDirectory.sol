// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/**
 * @title RoDirectory
 * @notice Who the reading organisations (ROs) of the imaging exchange are: each admitted RO (named by its principal
 * account), the further accounts that act for it (e.g. its agent), and its registered keys: an X25519 public key
 * that lease keys are wrapped to and the address of the key that signs its grants (ciphertext hash and lease terms).
 * StudyCustody reads it to decide who may register, request, grant and report.
 * @dev Admission is a governed decision: ADMISSION_ROLE admits and suspends ROs, and DEFAULT_ADMIN_ROLE (handed to the
 * DAO timelock by deployGovernance) appoints who holds ADMISSION_ROLE. An admitted RO manages its own accounts and
 * keys from its principal account. HAZARDS:
 * - the directory says nothing about who is behind a key: a stolen principal key can add accounts and rotate keys
 *   until the admission role suspends the RO;
 * - a key ID is never reused, so a lease naming a key ID always names the key it was requested for; revoking a key
 *   does not undo leases already granted to it (StudyCustody refuses to grant to a revoked key);
 * - an account belongs to at most one RO for ever (removed accounts are not re-assignable), so events naming an
 *   account stay attributable.
 */
contract RoDirectory is AccessControl {
    bytes32 public constant ADMISSION_ROLE = keccak256("ADMISSION_ROLE");

    /// @notice Most keys one RO may hold live at once (bounds the work of any off-chain scan per RO).
    uint8 public constant MAX_LIVE_KEYS = 8;

    struct Ro {
        bool admitted;
        bool suspended;
        uint8 liveKeys;
    }

    /// @notice A registered key pair: `encryptionKey` is the X25519 public key, `signer` the grant-signing address.
    struct Key {
        address ro;
        bool revoked;
        address signer;
        bytes32 encryptionKey;
    }

    /// @dev Principal account → RO state.
    mapping(address ro => Ro) private _ros;
    /// @dev Every account that acts for an RO (the principal included) → the RO's principal account.
    mapping(address account => address ro) private _roOf;
    /// @dev Accounts once assigned, removed ones included: never assigned again.
    mapping(address account => bool) private _everAssigned;
    mapping(uint256 keyId => Key) private _keys;
    uint256 private _lastKeyId;

    /// @notice `account` is the zero address, or already belongs (or once belonged) to an RO.
    error AccountUnavailable(address account);
    /// @notice `caller` is not the principal account of an admitted, unsuspended RO.
    error NotActiveRo(address caller);
    /// @notice `ro` is not an admitted RO.
    error RoNotAdmitted(address ro);
    /// @notice A zero encryption key or a zero signer address.
    error InvalidKey();
    /// @notice `keyId` does not exist, is revoked, or belongs to another RO.
    error KeyNotLive(uint256 keyId);
    /// @notice The RO already holds MAX_LIVE_KEYS live keys: revoke one first.
    error TooManyKeys();
    /// @notice `account` does not act for the caller's RO, or is its principal account (which cannot be removed).
    error NotRoAccount(address account);
    /// @notice The RO is already in the suspension state the call asks for.
    error SuspensionUnchanged(address ro, bool suspended);

    event RoAdmitted(address indexed ro, address indexed admittedBy);
    event RoSuspended(address indexed ro, address indexed by);
    event RoReinstated(address indexed ro, address indexed by);
    event RoAccountAdded(address indexed ro, address indexed account);
    event RoAccountRemoved(address indexed ro, address indexed account);
    event RoKeyAdded(address indexed ro, uint256 indexed keyId, bytes32 encryptionKey, address signer);
    event RoKeyRotated(address indexed ro, uint256 indexed oldKeyId, uint256 indexed newKeyId);
    event RoKeyRevoked(address indexed ro, uint256 indexed keyId);

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ───────────────────────────── admission (governed) ─────────────────────────────

    /// @notice Admits `ro` (its principal account) with its first key pair. Returns the key ID.
    function admitRo(
        address ro,
        bytes32 encryptionKey,
        address signer
    ) external onlyRole(ADMISSION_ROLE) returns (uint256 keyId) {
        _assign(ro, ro);
        _ros[ro].admitted = true;
        emit RoAdmitted(ro, msg.sender);
        emit RoAccountAdded(ro, ro);
        keyId = _addKey(ro, encryptionKey, signer);
    }

    /// @notice Suspends (`suspended` true) or reinstates an admitted RO: a suspended RO can neither request nor grant.
    function setSuspended(address ro, bool suspended) external onlyRole(ADMISSION_ROLE) {
        Ro storage r = _ros[ro];
        if (!r.admitted) revert RoNotAdmitted(ro);
        if (r.suspended == suspended) revert SuspensionUnchanged(ro, suspended);
        r.suspended = suspended;
        if (suspended) emit RoSuspended(ro, msg.sender);
        else emit RoReinstated(ro, msg.sender);
    }

    // ───────────────────────────── the RO's own accounts and keys ─────────────────────────────

    /// @notice The caller (an RO's principal account) adds an account that acts for it, e.g. its agent.
    function addAccount(address account) external {
        address ro = _activeRo();
        _assign(account, ro);
        emit RoAccountAdded(ro, account);
    }

    /// @notice The caller (an RO's principal account) removes one of its accounts; it can never be assigned again.
    function removeAccount(address account) external {
        address ro = _activeRo();
        if (account == ro || _roOf[account] != ro) revert NotRoAccount(account);
        delete _roOf[account];
        emit RoAccountRemoved(ro, account);
    }

    /// @notice The caller (an RO's principal account) registers another key pair. Returns its key ID.
    function addKey(bytes32 encryptionKey, address signer) external returns (uint256) {
        return _addKey(_activeRo(), encryptionKey, signer);
    }

    /// @notice Replaces a live key of the caller's RO by a new pair in one step (revokes `oldKeyId`).
    function rotateKey(uint256 oldKeyId, bytes32 encryptionKey, address signer) external returns (uint256 newKeyId) {
        address ro = _activeRo();
        _revokeKey(ro, oldKeyId);
        newKeyId = _addKey(ro, encryptionKey, signer);
        emit RoKeyRotated(ro, oldKeyId, newKeyId);
    }

    /// @notice Revokes a live key of the caller's RO (e.g. a compromised one): no lease is granted to it any more.
    function revokeKey(uint256 keyId) external {
        _revokeKey(_activeRo(), keyId);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @notice The principal account of the RO `account` acts for (zero: none).
    function roOf(address account) external view returns (address) {
        return _roOf[account];
    }

    /// @notice Whether `ro` is admitted and not suspended.
    function isActive(address ro) public view returns (bool) {
        Ro storage r = _ros[ro];
        return r.admitted && !r.suspended;
    }

    /// @notice The RO of `account` if that RO is active, else zero.
    function activeRoOf(address account) external view returns (address ro) {
        ro = _roOf[account];
        if (!isActive(ro)) ro = address(0);
    }

    function roInfo(address ro) external view returns (Ro memory) {
        return _ros[ro];
    }

    function keyOf(uint256 keyId) external view returns (Key memory) {
        return _keys[keyId];
    }

    /// @notice Whether `keyId` is a live (registered, unrevoked) key of `ro`.
    function isLiveKeyOf(uint256 keyId, address ro) external view returns (bool) {
        Key storage k = _keys[keyId];
        return ro != address(0) && k.ro == ro && !k.revoked;
    }

    // ───────────────────────────── internals ─────────────────────────────

    function _activeRo() private view returns (address ro) {
        ro = msg.sender;
        if (!isActive(ro)) revert NotActiveRo(ro);
    }

    function _assign(address account, address ro) private {
        if (account == address(0) || _everAssigned[account]) revert AccountUnavailable(account);
        _everAssigned[account] = true;
        _roOf[account] = ro;
    }

    function _addKey(address ro, bytes32 encryptionKey, address signer) private returns (uint256 keyId) {
        if (encryptionKey == bytes32(0) || signer == address(0)) revert InvalidKey();
        Ro storage r = _ros[ro];
        if (r.liveKeys >= MAX_LIVE_KEYS) revert TooManyKeys();
        r.liveKeys += 1;
        keyId = ++_lastKeyId;
        _keys[keyId] = Key(ro, false, signer, encryptionKey);
        emit RoKeyAdded(ro, keyId, encryptionKey, signer);
    }

    function _revokeKey(address ro, uint256 keyId) private {
        Key storage k = _keys[keyId];
        if (k.ro != ro || k.revoked) revert KeyNotLive(keyId);
        k.revoked = true;
        _ros[ro].liveKeys -= 1;
        emit RoKeyRevoked(ro, keyId);
    }
}
