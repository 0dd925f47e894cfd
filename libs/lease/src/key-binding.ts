import { Interface, TypedDataEncoder, recoverAddress, type Provider, type Signer, type TypedDataDomain, type TypedDataField } from 'ethers';

/**
 * A radiologist's X25519 key bound to their wallet: an EIP-712 statement "account uses publicKey to receive study
 * keys", signed by the account (an EOA, or a smart account through ERC-1271). The API stores it beside the key and
 * hands it to the RO with each pending lease; the RO side checks it against the claimant on chain before sealing a
 * study key, so neither a stolen session token nor a rewritten database row can redirect study keys to another key.
 * Hazard: a binding does not expire. After a rotation, whoever kept the old statement (the database) can present it
 * again: the study key then goes to a key the radiologist once held, never to an attacker's own key. A radiologist
 * whose private key leaked moves to a new wallet.
 */
export const KEY_BINDING_TYPES: Record<string, TypedDataField[]> = {
  EncryptionKey: [
    { name: 'account', type: 'address' },
    { name: 'publicKey', type: 'bytes32' },
  ],
};

export const keyBindingDomain = (chainId: number, market: string): TypedDataDomain => ({
  name: 'OpenRead Encryption Key',
  version: '1',
  chainId,
  verifyingContract: market,
});

/** The account signs that it receives study keys at publicKey (0x-hex, 32 bytes). */
export async function signKeyBinding(signer: Signer, domain: TypedDataDomain, publicKey: string): Promise<string> {
  return signer.signTypedData(domain, KEY_BINDING_TYPES, { account: await signer.getAddress(), publicKey });
}

/** The EIP-712 digest an account signs for publicKey. */
export const keyBindingDigest = (domain: TypedDataDomain, account: string, publicKey: string): string =>
  TypedDataEncoder.hash(domain, KEY_BINDING_TYPES, { account, publicKey });

const ERC1271 = new Interface(['function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)']);
const ERC1271_MAGIC = '0x1626ba7e' + '0'.repeat(56);
/** Gas a smart account's isValidSignature may use (a Safe's check needs well under 100k). */
const ERC1271_GAS = 500_000n;
/** Largest signature accepted (a Safe's n-of-m owner signatures fit easily). */
const MAX_SIGNATURE_BYTES = 4096;
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** One canonical ECDSA form: 65 bytes r‖s‖v, v = 27 or 28, low s (ethers also takes other encodings of one signature). */
function canonicalEcdsa(signature: string): boolean {
  if (signature.length !== 2 + 130) return false;
  const s = BigInt('0x' + signature.slice(66, 130));
  const v = parseInt(signature.slice(130), 16);
  return (v === 27 || v === 28) && s > 0n && s <= SECP256K1_HALF_N;
}

/**
 * Whether `account` bound `publicKey` with `signature`: an EOA whose key recovers from it, or a deployed smart account
 * whose isValidSignature accepts it for the EIP-712 digest at the latest block. Errors reaching the chain node
 * propagate (the caller must not read them as "not bound").
 */
export async function verifyKeyBinding(
  provider: Provider,
  domain: TypedDataDomain,
  account: string,
  publicKey: string,
  signature: string,
): Promise<boolean> {
  if (!/^0x([0-9a-fA-F]{2})+$/.test(signature) || signature.length > 2 + 2 * MAX_SIGNATURE_BYTES) return false;
  if (!/^0x[0-9a-fA-F]{64}$/.test(publicKey) || !/^0x[0-9a-fA-F]{40}$/.test(account)) return false;
  const digest = keyBindingDigest(domain, account, publicKey);
  if (canonicalEcdsa(signature)) {
    try {
      if (recoverAddress(digest, signature).toLowerCase() === account.toLowerCase()) return true;
    } catch {
      // not a valid ECDSA signature: may still be a smart account's
    }
  }
  if ((await provider.getCode(account)) === '0x') return false;
  try {
    const data = ERC1271.encodeFunctionData('isValidSignature', [digest, signature]);
    const result = await provider.call({ to: account, data, gasLimit: ERC1271_GAS });
    return result.toLowerCase() === ERC1271_MAGIC;
  } catch (e) {
    if ((e as { code?: string }).code === 'CALL_EXCEPTION') return false;
    throw e;
  }
}
