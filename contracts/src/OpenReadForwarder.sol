// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/**
 * @title OpenReadForwarder
 * @notice The ERC-2771 forwarder StudyMarket trusts: the API's relayer submits radiologists' EIP-712-signed
 * requests (claim, submitReport) and pays the gas. EIP-712 domain: name "OpenRead Forwarder", version "1".
 * @dev HAZARDS:
 * - only ECDSA signatures are checked (no ERC-1271): smart-account radiologists must send their own transactions;
 * - a failed inner call reverts {execute} with FailedCall and does not consume the nonce: the relayer simulates
 *   the inner call (from this forwarder, sender appended) to learn the real reason before paying gas;
 * - requests carry a deadline; an unexecuted signed request stays valid until then, and any relayer may submit it.
 */
contract OpenReadForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("OpenRead Forwarder") {}
}
