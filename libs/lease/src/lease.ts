import { TypedDataDomain, TypedDataField, keccak256, verifyTypedData, type Signer } from 'ethers';

/**
 * A study lease: the study key sealed to the claimant's X25519 key (see crypto.ts), time-stamped and signed by
 * the RO's posting account with EIP-712, expiring when the on-chain claim's lease expires. The radiologist can
 * check the signature against the study's RO on chain; the API checks it before storing the lease. The lease also
 * carries the RO's report key, so the radiologist seals the report to a key the RO signed for, not one the API names.
 */
export interface LeaseTerms {
  studyId: string;
  radiologist: string;
  /** the radiologist's registered X25519 public key, 0x-hex (32 bytes) */
  recipientKey: string;
  /** keccak256 of the sealed study key */
  wrappedKeyHash: string;
  /** chain time (unix s) the RO issued the lease */
  issuedAt: number;
  /** chain time (unix s) the claim's lease expires: the lease ends with it */
  expiresAt: number;
  /** the RO's X25519 report key, 0x-hex (32 bytes): the radiologist seals the report to it */
  reportKey: string;
}

export const LEASE_TYPES: Record<string, TypedDataField[]> = {
  Lease: [
    { name: 'studyId', type: 'bytes32' },
    { name: 'radiologist', type: 'address' },
    { name: 'recipientKey', type: 'bytes32' },
    { name: 'wrappedKeyHash', type: 'bytes32' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'expiresAt', type: 'uint64' },
    { name: 'reportKey', type: 'bytes32' },
  ],
};

export const leaseDomain = (chainId: number, market: string): TypedDataDomain => ({
  name: 'OpenRead Study Lease',
  version: '1',
  chainId,
  verifyingContract: market,
});

export const leaseTerms = (t: Omit<LeaseTerms, 'wrappedKeyHash'>, wrappedKey: Buffer): LeaseTerms => ({
  ...t,
  wrappedKeyHash: keccak256(wrappedKey),
});

export function signLease(signer: Signer, domain: TypedDataDomain, terms: LeaseTerms): Promise<string> {
  return signer.signTypedData(domain, LEASE_TYPES, terms);
}

/** The lowercase address that signed these terms (throws on a malformed signature). */
export function leaseSigner(domain: TypedDataDomain, terms: LeaseTerms, signature: string): string {
  return verifyTypedData(domain, LEASE_TYPES, terms, signature).toLowerCase();
}
