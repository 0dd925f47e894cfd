// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title AccessLogAnchor
 * @notice Anchors the head of OpenRead's off-chain study access log (a sha256 hash chain over every fetch and
 * refused attempt, see migrations/1764600100000-StudyVault.ts). Anyone holding the log can recompute the chain
 * up to an anchored sequence number and compare: a rewritten or truncated log no longer matches.
 * Each anchor also records the Merkle root (OpenZeppelin's sorted-pair keccak256 tree) over the salted leaves of the
 * entries it covers (after the previous anchor, up to `seq`), so an RO can check one of its study's entries against
 * the chain with an inclusion proof that reveals only sibling hashes, never another entry (libs/lease access-log-proof.ts).
 * @dev Only hashes and counters are stored: no study IDs, accounts or anything else from the log.
 * HAZARD: anchoring is periodic, so entries after the latest anchor are only as safe as the database until the
 * next one. An anchorer can anchor a wrong hash (it is trusted to read the log honestly); what it cannot do is
 * rewrite an earlier anchor: sequence numbers only go up, by at most MAX_SEQ_STEP per anchor, so a rogue anchorer
 * cannot jump to 2^64-1 and leave no room for the next anchor (it would need about 2^32 transactions to get there;
 * governance revokes it long before). A step of exactly one would force an anchor per log entry; the settler anchors
 * periodically, after many entries.
 */
contract AccessLogAnchor is AccessControl {
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @notice The largest advance of the sequence number in one anchor (far more log entries than an interval sees).
    uint64 public constant MAX_SEQ_STEP = 2 ** 32;

    uint64 private _lastSeq;
    bytes32 private _lastHead;
    mapping(uint64 seq => bytes32 root) private _roots;

    /// @notice `seq` is not beyond the last anchored sequence number, or `head` is zero.
    error StaleAnchor(uint64 seq, uint64 lastSeq);
    error ZeroHead();
    /// @notice The Merkle root of the anchored entries is zero.
    error ZeroRoot();
    /// @notice `seq` is more than MAX_SEQ_STEP beyond the last anchored sequence number.
    error AnchorTooFarAhead(uint64 seq, uint64 lastSeq);

    /// @notice Entries `fromSeq`..`seq` of the log are anchored: `head` is entry `seq`'s chain hash, `root` their Merkle root.
    event AccessLogAnchored(uint64 indexed seq, uint64 fromSeq, bytes32 head, bytes32 root, address indexed anchorer);

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Records that the log's entry number `seq` has chain hash `head`, and that the entries after the last
    /// anchor up to `seq` have Merkle root `root`.
    function anchor(uint64 seq, bytes32 head, bytes32 root) external onlyRole(ANCHORER_ROLE) {
        if (head == bytes32(0)) revert ZeroHead();
        if (root == bytes32(0)) revert ZeroRoot();
        uint64 last = _lastSeq;
        if (seq <= last) revert StaleAnchor(seq, last);
        if (seq - last > MAX_SEQ_STEP) revert AnchorTooFarAhead(seq, last);
        _lastSeq = seq;
        _lastHead = head;
        _roots[seq] = root;
        emit AccessLogAnchored(seq, last + 1, head, root, msg.sender);
    }

    /// @notice The Merkle root anchored at `seq` (zero if no anchor ends at `seq`).
    function rootOf(uint64 seq) external view returns (bytes32) {
        return _roots[seq];
    }

    /// @notice Whether `leaf` is among the entries of the anchor ending at `seq` (OpenZeppelin's MerkleProof).
    function includes(uint64 seq, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = _roots[seq];
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    function latest() external view returns (uint64 seq, bytes32 head) {
        return (_lastSeq, _lastHead);
    }
}
