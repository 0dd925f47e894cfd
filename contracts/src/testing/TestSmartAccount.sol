// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @title TestSmartAccount
 * @notice A minimal ERC-1271 contract wallet with one owner, to test sign-in by smart accounts (like a Safe
 * owned by the radiologist). A signature is valid when the owner signed the 32-byte hash itself.
 * @dev TEST ONLY. HAZARD: the hash is not wrapped in a domain of this account (a Safe wraps it in an EIP-712
 * SafeMessage), so the owner's signature of a hash is valid for every such account it owns. For sign-in this is
 * harmless (the EIP-4361 message names the account), for anything else it is a replay hole.
 */
contract TestSmartAccount is IERC1271 {
    address private immutable _owner;

    constructor(address owner_) {
        _owner = owner_;
    }

    function owner() external view returns (address) {
        return _owner;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == _owner ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}
