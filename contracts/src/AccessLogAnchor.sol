// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/**
 * @title AccessLogAnchor
 * @notice Anchors the head of OpenRead's off-chain study access log (a sha256 hash chain over every fetch and
 * refused attempt, see migrations/1764600100000-StudyVault.ts). Anyone holding the log can recompute the chain
 * up to an anchored sequence number and compare: a rewritten or truncated log no longer matches.
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

    /// @notice `seq` is not beyond the last anchored sequence number, or `head` is zero.
    error StaleAnchor(uint64 seq, uint64 lastSeq);
    error ZeroHead();
    /// @notice `seq` is more than MAX_SEQ_STEP beyond the last anchored sequence number.
    error AnchorTooFarAhead(uint64 seq, uint64 lastSeq);

    event AccessLogAnchored(uint64 indexed seq, bytes32 head, address indexed anchorer);

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Records that the log's entry number `seq` has chain hash `head`.
    function anchor(uint64 seq, bytes32 head) external onlyRole(ANCHORER_ROLE) {
        if (head == bytes32(0)) revert ZeroHead();
        if (seq <= _lastSeq) revert StaleAnchor(seq, _lastSeq);
        if (seq - _lastSeq > MAX_SEQ_STEP) revert AnchorTooFarAhead(seq, _lastSeq);
        _lastSeq = seq;
        _lastHead = head;
        emit AccessLogAnchored(seq, head, msg.sender);
    }

    function latest() external view returns (uint64 seq, bytes32 head) {
        return (_lastSeq, _lastHead);
    }
}
