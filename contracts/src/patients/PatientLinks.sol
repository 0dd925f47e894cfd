// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {StudyCustody} from "../exchange/StudyCustody.sol";
import {RoDirectory} from "../exchange/RoDirectory.sol";

/**
 * @title PatientLinks
 * @notice Links a study in custody to its patient without patient data on chain, and lets the linked patient revoke
 * the custodian RO's custody.
 *
 * The custodian proposes a commitment `keccak256(abi.encode(account, salt, studyId, chainId))`, where `account` is the
 * patient's link account for this study and `salt` a fresh random secret the RO and the patient keep. The patient
 * accepts with an EIP-712 signature of `account` (an EOA, or an ERC-1271 smart account: OpenZeppelin's
 * SignatureChecker), giving the opening (account, salt); anyone may submit it (the API's relayer pays the gas, the
 * patient never needs ETH). The linked patient later revokes the custody the same way (opening + signature):
 * {StudyCustody-revokeCustody} ends it. Events carry study IDs and commitments, never an account.
 *
 * Privacy: every signature check names its signer in calldata, so the account opening a link is public once it
 * accepts. Unlinkability across studies therefore rests on a fresh link account and a fresh salt per study (the
 * patient console derives the study's link key from the patient's wallet and the salt, see docs/patients.md): then
 * no value on chain is shared by two studies of one patient. HAZARDS:
 * - a patient who reuses a link account or a salt for two studies links them publicly, for ever;
 * - a smart account whose owner is readable on chain (Safe, TestSmartAccount) links its studies through the owner:
 *   use one smart account per study, or an EOA link key;
 * - the commitment binds the study and the chain, not this contract: deploy one PatientLinks per chain;
 * - the custodian may re-propose before acceptance (e.g. the patient lost the salt); once accepted a link is final;
 * - acceptance and revocation are one-shot, so their signatures cannot be replayed; an unexpired, unsubmitted
 *   revocation signature stays usable by anyone who holds it until its deadline (that is the point: a relayer).
 */
contract PatientLinks is EIP712 {
    enum LinkStatus {
        None,
        Proposed,
        Accepted,
        Revoked
    }

    struct Link {
        bytes32 commitment;
        LinkStatus status;
        uint40 updatedAt;
    }

    bytes32 private constant LINK_ACCEPTANCE_TYPEHASH =
        keccak256("LinkAcceptance(bytes32 studyId,bytes32 commitment,uint256 deadline)");
    bytes32 private constant CUSTODY_REVOCATION_TYPEHASH =
        keccak256("CustodyRevocation(bytes32 studyId,bytes32 commitment,uint256 deadline)");

    StudyCustody private immutable _custody;
    RoDirectory private immutable _directory;
    mapping(bytes32 studyId => Link) private _links;
    mapping(bytes32 commitment => bytes32 studyId) private _studyOf;

    /// @notice The caller does not act for the study's custodian (or the study is not in custody).
    error NotCustodian(bytes32 studyId, address caller);
    error InvalidCommitment();
    /// @notice A commitment is used once (a repeated one would link two studies).
    error CommitmentUsed(bytes32 commitment);
    error InvalidLinkStatus(bytes32 studyId, LinkStatus status);
    /// @notice (account, salt) do not open the study's commitment.
    error OpeningMismatch(bytes32 studyId);
    error SignatureExpired(uint256 deadline);
    error InvalidPatientSignature(bytes32 studyId);
    error ZeroAddress();

    event LinkProposed(bytes32 indexed studyId, bytes32 indexed commitment, address indexed ro);
    event LinkAccepted(bytes32 indexed studyId, bytes32 indexed commitment);
    /// @notice The linked patient revoked the custody of the study (StudyCustody emits CustodyRevoked too).
    event LinkRevoked(bytes32 indexed studyId, bytes32 indexed commitment);

    constructor(StudyCustody custody_) EIP712("OpenRead PatientLinks", "1") {
        if (address(custody_) == address(0)) revert ZeroAddress();
        _custody = custody_;
        _directory = custody_.directory();
    }

    /**
     * @notice The custodian proposes the link commitment of a study it holds (again, replacing a proposal not yet
     * accepted).
     * @param commitment keccak256(abi.encode(account, salt, studyId, block.chainid)), see {commitmentFor}.
     */
    function proposeLink(bytes32 studyId, bytes32 commitment) external {
        address ro = _directory.activeRoOf(msg.sender);
        if (ro == address(0) || _custody.custodyOf(studyId).ro != ro || _custody.revokedAt(studyId) != 0)
            revert NotCustodian(studyId, msg.sender);
        if (commitment == bytes32(0)) revert InvalidCommitment();
        if (_studyOf[commitment] != bytes32(0)) revert CommitmentUsed(commitment);
        Link storage link = _links[studyId];
        if (link.status != LinkStatus.None && link.status != LinkStatus.Proposed)
            revert InvalidLinkStatus(studyId, link.status);
        _studyOf[commitment] = studyId; // a replaced commitment stays used
        link.commitment = commitment;
        link.status = LinkStatus.Proposed;
        link.updatedAt = uint40(block.timestamp);
        emit LinkProposed(studyId, commitment, ro);
    }

    /**
     * @notice Accepts the proposed link: `account` and `salt` open the commitment and `account` signed
     * LinkAcceptance(studyId, commitment, deadline) (not needed when `account` is the caller). Anyone may submit.
     */
    function acceptLink(
        bytes32 studyId,
        address account,
        bytes32 salt,
        uint256 deadline,
        bytes calldata signature
    ) external {
        Link storage link = _links[studyId];
        if (link.status != LinkStatus.Proposed) revert InvalidLinkStatus(studyId, link.status);
        bytes32 commitment = link.commitment;
        _checkPatient(LINK_ACCEPTANCE_TYPEHASH, studyId, commitment, account, salt, deadline, signature);
        link.status = LinkStatus.Accepted;
        link.updatedAt = uint40(block.timestamp);
        emit LinkAccepted(studyId, commitment);
    }

    /**
     * @notice The linked patient revokes the custodian's custody of the study: `account` and `salt` open the
     * commitment and `account` signed CustodyRevocation(studyId, commitment, deadline) (or is the caller).
     * The study leaves StudyCustody's registry and its leases end (see StudyCustody); the link is final.
     */
    function revoke(
        bytes32 studyId,
        address account,
        bytes32 salt,
        uint256 deadline,
        bytes calldata signature
    ) external {
        Link storage link = _links[studyId];
        if (link.status != LinkStatus.Accepted) revert InvalidLinkStatus(studyId, link.status);
        bytes32 commitment = link.commitment;
        _checkPatient(CUSTODY_REVOCATION_TYPEHASH, studyId, commitment, account, salt, deadline, signature);
        link.status = LinkStatus.Revoked;
        link.updatedAt = uint40(block.timestamp);
        emit LinkRevoked(studyId, commitment);
        _custody.revokeCustody(studyId);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @notice The commitment of `account`'s link to `studyId` with `salt` on this chain.
    function commitmentFor(address account, bytes32 salt, bytes32 studyId) public view returns (bytes32) {
        return keccak256(abi.encode(account, salt, studyId, block.chainid));
    }

    function linkOf(bytes32 studyId) external view returns (Link memory) {
        return _links[studyId];
    }

    /// @notice The study a commitment was proposed for (zero: never proposed).
    function studyOf(bytes32 commitment) external view returns (bytes32) {
        return _studyOf[commitment];
    }

    /// @notice Whether the study's link is accepted and its custody not revoked.
    function isLinked(bytes32 studyId) external view returns (bool) {
        return _links[studyId].status == LinkStatus.Accepted;
    }

    /// @notice Whether (account, salt) open the study's current commitment (any status but None).
    function opens(bytes32 studyId, address account, bytes32 salt) external view returns (bool) {
        Link storage link = _links[studyId];
        return link.status != LinkStatus.None && link.commitment == commitmentFor(account, salt, studyId);
    }

    function custody() external view returns (StudyCustody) {
        return _custody;
    }

    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ───────────────────────────── internals ─────────────────────────────

    function _checkPatient(
        bytes32 typehash,
        bytes32 studyId,
        bytes32 commitment,
        address account,
        bytes32 salt,
        uint256 deadline,
        bytes calldata signature
    ) private view {
        if (commitment != commitmentFor(account, salt, studyId)) revert OpeningMismatch(studyId);
        if (msg.sender == account) return;
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(typehash, studyId, commitment, deadline)));
        if (!SignatureChecker.isValidSignatureNowCalldata(account, digest, signature))
            revert InvalidPatientSignature(studyId);
    }
}
