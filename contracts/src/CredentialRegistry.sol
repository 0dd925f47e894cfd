// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/**
 * @title CredentialRegistry
 * @notice On-chain record of which radiologist may read which studies: the US states (plus DC) they are
 * licensed in and the modalities they are credentialed for, with an expiry. Written by verifiers after an
 * off-chain credential check; read by StudyMarket.claim.
 * @dev States are indices 0..50 into the alphabetical USPS codes of the 50 states + DC, modalities 0..6
 * (libs/domain/src/codes.ts); never reorder them. One storage slot per radiologist.
 * HAZARD: an attestation says nothing about the identity behind the key: a stolen radiologist key can claim
 * studies until a verifier revokes it. Verifiers are trusted; DEFAULT_ADMIN_ROLE manages them.
 */
contract CredentialRegistry is AccessControl {
    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER_ROLE");

    uint8 public constant STATE_COUNT = 51;
    uint8 public constant MODALITY_COUNT = 7;

    struct Credential {
        uint64 statesMask; // bit i = licensed in state i
        uint16 modalitiesMask; // bit i = credentialed for modality i
        uint64 expiresAt; // unix seconds; 0 = never attested
        bool revoked;
    }

    mapping(address radiologist => Credential) private _credentials;

    /// @notice Zero address, empty or out-of-range masks, or an expiry not in the future.
    error InvalidCredential();
    /// @notice `radiologist` has no credential, or it is already revoked.
    error CredentialNotFound(address radiologist);

    event CredentialAttested(
        address indexed radiologist,
        address indexed verifier,
        uint64 statesMask,
        uint16 modalitiesMask,
        uint64 expiresAt
    );
    event CredentialRevoked(address indexed radiologist, address indexed verifier);

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /**
     * @notice Records (or overwrites) the credential of `radiologist`. Re-attesting a revoked radiologist
     * un-revokes them.
     */
    function attest(
        address radiologist,
        uint64 statesMask,
        uint16 modalitiesMask,
        uint64 expiresAt
    ) external onlyRole(VERIFIER_ROLE) {
        if (
            radiologist == address(0) ||
            statesMask == 0 ||
            modalitiesMask == 0 ||
            statesMask >= uint64(1) << STATE_COUNT ||
            modalitiesMask >= uint16(1) << MODALITY_COUNT ||
            expiresAt <= block.timestamp
        ) revert InvalidCredential();
        _credentials[radiologist] = Credential(statesMask, modalitiesMask, expiresAt, false);
        emit CredentialAttested(radiologist, msg.sender, statesMask, modalitiesMask, expiresAt);
    }

    /// @notice Revokes the credential of `radiologist`; studies they already claimed are not affected.
    function revoke(address radiologist) external onlyRole(VERIFIER_ROLE) {
        Credential storage c = _credentials[radiologist];
        if (c.expiresAt == 0 || c.revoked) revert CredentialNotFound(radiologist);
        c.revoked = true;
        emit CredentialRevoked(radiologist, msg.sender);
    }

    function credentialOf(address radiologist) external view returns (Credential memory) {
        return _credentials[radiologist];
    }

    /// @notice Whether `radiologist` may claim a study of `modality` for a patient in `stateIndex`, now.
    function isEligible(address radiologist, uint8 stateIndex, uint8 modality) external view returns (bool) {
        if (stateIndex >= STATE_COUNT || modality >= MODALITY_COUNT) return false;
        Credential memory c = _credentials[radiologist];
        return
            c.expiresAt > block.timestamp &&
            !c.revoked &&
            (c.statesMask >> stateIndex) & 1 == 1 &&
            (c.modalitiesMask >> modality) & 1 == 1;
    }
}
