// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/**
 * @title IncentiveParameters
 * @notice The economic knobs of the OpenRead marketplace: protocol fee, claim lease, acceptance (dispute) window,
 * bounty escalation, urgency multipliers and per-modality base bounties.
 * @dev Ownership is meant to move to a DAO timelock (Ownable2Step, so a mistyped address cannot take it).
 * Hard bounds are constants: not even the owner can set a value outside them. Every change, including the
 * defaults set by the constructor, emits exactly one {ParameterUpdated}, so an indexer can rebuild the full
 * parameter history from logs alone.
 *
 * Values are read by StudyMarket at claim/report time. HAZARD: a change applies to studies already posted
 * (their bounty is computed when claimed); claimed studies keep the fee and bounty snapshotted at claim.
 */
contract IncentiveParameters is Ownable2Step {
    /// @notice Maximum protocol fee, basis points (10%).
    uint16 public constant MAX_FEE_BPS = 1000;
    uint32 public constant MIN_LEASE_DURATION = 30 minutes;
    uint32 public constant MAX_LEASE_DURATION = 48 hours;
    uint32 public constant MIN_ACCEPTANCE_WINDOW = 1 hours;
    uint32 public constant MAX_ACCEPTANCE_WINDOW = 14 days;
    uint32 public constant MAX_ESCALATION_BPS_PER_HOUR = 10000;
    uint32 public constant MIN_URGENCY_BPS = 10000;
    uint32 public constant MAX_URGENCY_BPS = 50000;
    /// @notice Maximum base bounty of a modality, token base units (6 decimals: 10,000 tokens).
    uint256 public constant MAX_BASE_BOUNTY = 10_000e6;
    uint8 public constant MODALITY_COUNT = 7;
    uint8 public constant URGENCY_COUNT = 3;

    bytes32 private constant FEE_BPS = "feeBps";
    bytes32 private constant LEASE_DURATION = "leaseDuration";
    bytes32 private constant ACCEPTANCE_WINDOW = "acceptanceWindow";
    bytes32 private constant ESCALATION_BPS_PER_HOUR = "escalationBpsPerHour";
    bytes32 private constant URGENCY_MULTIPLIER_BPS = "urgencyMultiplierBps";
    bytes32 private constant BASE_BOUNTY = "baseBounty";

    // One slot: read together by StudyMarket.claim.
    uint16 private _feeBps;
    uint32 private _leaseDuration;
    uint32 private _acceptanceWindow;
    uint32 private _escalationBpsPerHour;
    uint32[URGENCY_COUNT] private _urgencyMultiplierBps; // one slot
    uint256[MODALITY_COUNT] private _baseBounty;

    /// @notice `value` is outside the hard bounds of parameter `name`.
    error ParameterOutOfBounds(bytes32 name, uint256 value);
    /// @notice `key` is not a valid urgency / modality index for parameter `name`.
    error UnknownKey(bytes32 name, uint256 key);

    /**
     * @notice Emitted for every parameter change. `name` is the ASCII name as bytes32 (e.g. bytes32("feeBps")),
     * `key` is 0 for scalars, the urgency index for urgencyMultiplierBps and the modality index for baseBounty.
     */
    event ParameterUpdated(bytes32 indexed name, uint256 indexed key, uint256 value);

    constructor(address initialOwner) Ownable(initialOwner) {
        _setFeeBps(500);
        _setLeaseDuration(4 hours);
        _setAcceptanceWindow(24 hours);
        _setEscalationBpsPerHour(500);
        _setUrgencyMultiplierBps(0, 10000); // ROUTINE
        _setUrgencyMultiplierBps(1, 15000); // URGENT
        _setUrgencyMultiplierBps(2, 25000); // STAT
        _setBaseBounty(0, 10e6); // XR
        _setBaseBounty(1, 40e6); // CT
        _setBaseBounty(2, 60e6); // MR
        _setBaseBounty(3, 20e6); // US
        _setBaseBounty(4, 25e6); // MG
        _setBaseBounty(5, 50e6); // NM
        _setBaseBounty(6, 80e6); // PET
    }

    // ───────────────────────────── getters ─────────────────────────────

    /// @notice Protocol fee taken from the locked bounty at settlement, basis points.
    function feeBps() external view returns (uint16) {
        return _feeBps;
    }

    /// @notice How long a radiologist holds a claimed study before anyone can release it, seconds.
    function leaseDuration() external view returns (uint32) {
        return _leaseDuration;
    }

    /// @notice How long the RO can dispute a submitted report before it can be settled, seconds.
    function acceptanceWindow() external view returns (uint32) {
        return _acceptanceWindow;
    }

    /// @notice Bounty escalation per whole hour a study waits, basis points of the unescalated bounty.
    function escalationBpsPerHour() external view returns (uint32) {
        return _escalationBpsPerHour;
    }

    /// @notice Multiplier of an urgency (0 ROUTINE, 1 URGENT, 2 STAT), basis points.
    function urgencyMultiplierBps(uint8 urgency) external view returns (uint32) {
        _checkUrgency(urgency);
        return _urgencyMultiplierBps[urgency];
    }

    /// @notice Base bounty of a modality (0 XR, 1 CT, 2 MR, 3 US, 4 MG, 5 NM, 6 PET), token base units.
    function baseBounty(uint8 modality) external view returns (uint256) {
        _checkModality(modality);
        return _baseBounty[modality];
    }

    /// @notice Everything the bounty formula needs from this contract, in one call.
    function bountyInputs(
        uint8 modality,
        uint8 urgency
    ) external view returns (uint256 base, uint32 urgencyBps, uint32 escalationBps) {
        _checkModality(modality);
        _checkUrgency(urgency);
        return (_baseBounty[modality], _urgencyMultiplierBps[urgency], _escalationBpsPerHour);
    }

    /// @notice The terms snapshotted when a study is claimed.
    function claimTerms() external view returns (uint32 leaseDuration_, uint16 feeBps_) {
        return (_leaseDuration, _feeBps);
    }

    // ───────────────────────────── setters ─────────────────────────────

    function setFeeBps(uint16 value) external onlyOwner {
        _setFeeBps(value);
    }

    function setLeaseDuration(uint32 value) external onlyOwner {
        _setLeaseDuration(value);
    }

    function setAcceptanceWindow(uint32 value) external onlyOwner {
        _setAcceptanceWindow(value);
    }

    function setEscalationBpsPerHour(uint32 value) external onlyOwner {
        _setEscalationBpsPerHour(value);
    }

    function setUrgencyMultiplierBps(uint8 urgency, uint32 bps) external onlyOwner {
        _setUrgencyMultiplierBps(urgency, bps);
    }

    /// @dev A zero base bounty is allowed (it makes a modality unpaid, e.g. while it is being phased out).
    function setBaseBounty(uint8 modality, uint256 amount) external onlyOwner {
        _setBaseBounty(modality, amount);
    }

    // ───────────────────────────── internals ─────────────────────────────

    function _setFeeBps(uint16 value) private {
        if (value > MAX_FEE_BPS) revert ParameterOutOfBounds(FEE_BPS, value);
        _feeBps = value;
        emit ParameterUpdated(FEE_BPS, 0, value);
    }

    function _setLeaseDuration(uint32 value) private {
        if (value < MIN_LEASE_DURATION || value > MAX_LEASE_DURATION) revert ParameterOutOfBounds(LEASE_DURATION, value);
        _leaseDuration = value;
        emit ParameterUpdated(LEASE_DURATION, 0, value);
    }

    function _setAcceptanceWindow(uint32 value) private {
        if (value < MIN_ACCEPTANCE_WINDOW || value > MAX_ACCEPTANCE_WINDOW) {
            revert ParameterOutOfBounds(ACCEPTANCE_WINDOW, value);
        }
        _acceptanceWindow = value;
        emit ParameterUpdated(ACCEPTANCE_WINDOW, 0, value);
    }

    function _setEscalationBpsPerHour(uint32 value) private {
        if (value > MAX_ESCALATION_BPS_PER_HOUR) revert ParameterOutOfBounds(ESCALATION_BPS_PER_HOUR, value);
        _escalationBpsPerHour = value;
        emit ParameterUpdated(ESCALATION_BPS_PER_HOUR, 0, value);
    }

    function _setUrgencyMultiplierBps(uint8 urgency, uint32 bps) private {
        if (urgency >= URGENCY_COUNT) revert UnknownKey(URGENCY_MULTIPLIER_BPS, urgency);
        if (bps < MIN_URGENCY_BPS || bps > MAX_URGENCY_BPS) revert ParameterOutOfBounds(URGENCY_MULTIPLIER_BPS, bps);
        _urgencyMultiplierBps[urgency] = bps;
        emit ParameterUpdated(URGENCY_MULTIPLIER_BPS, urgency, bps);
    }

    function _setBaseBounty(uint8 modality, uint256 amount) private {
        if (modality >= MODALITY_COUNT) revert UnknownKey(BASE_BOUNTY, modality);
        if (amount > MAX_BASE_BOUNTY) revert ParameterOutOfBounds(BASE_BOUNTY, amount);
        _baseBounty[modality] = amount;
        emit ParameterUpdated(BASE_BOUNTY, modality, amount);
    }

    function _checkUrgency(uint8 urgency) private pure {
        if (urgency >= URGENCY_COUNT) revert UnknownKey(URGENCY_MULTIPLIER_BPS, urgency);
    }

    function _checkModality(uint8 modality) private pure {
        if (modality >= MODALITY_COUNT) revert UnknownKey(BASE_BOUNTY, modality);
    }
}
