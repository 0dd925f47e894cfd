import { SigningKey, TypedDataEncoder, getAddress, type BytesLike } from 'ethers';

/**
 * Study-ID issuance: StudyMarket.postStudy accepts only a study ID the market's study-ID issuer signed for the
 * posting RO (EIP-712, below). The API holds the issuer key and signs the random IDs it generates
 * (prepareStudyPosting); an RO cannot post an ID of its own choosing (e.g. one derived from an MRN: PHI on chain).
 */
export const STUDY_ID_ISSUANCE_TYPES = {
  StudyIdIssuance: [
    { name: 'studyId', type: 'bytes32' },
    { name: 'ro', type: 'address' },
    { name: 'issuedUntil', type: 'uint64' },
  ],
};

/** EIP-712 domain of a StudyMarket (must match the contract's EIP712 constructor arguments). */
export const studyMarketDomain = (market: string, chainId: number | bigint) => ({
  name: 'OpenRead StudyMarket',
  version: '1',
  chainId,
  verifyingContract: getAddress(market),
});

/** How long an issuance stays valid by default: an hour to sign and send the posting. */
export const DEFAULT_ISSUANCE_SECONDS = 3600;

export interface StudyIdIssuance {
  /** last unix second at which postStudy accepts the issuance */
  issuedUntil: bigint;
  /** the issuer's 65-byte signature (0x hex) */
  issuance: string;
}

/**
 * Signs StudyIdIssuance(studyId, ro, issuedUntil) with the issuer key, for postStudy's last two arguments.
 * Synchronous and cheap (one hash and one secp256k1 signature on the digest), so bulk generators can call it per
 * posting. `issuedUntil` defaults to now + DEFAULT_ISSUANCE_SECONDS (local clock).
 */
export function issueStudyId(
  issuerKey: string | SigningKey,
  market: string,
  chainId: number | bigint,
  ro: string,
  studyId: BytesLike,
  issuedUntil?: bigint | number,
): StudyIdIssuance {
  const until = BigInt(issuedUntil ?? Math.floor(Date.now() / 1000) + DEFAULT_ISSUANCE_SECONDS);
  const digest = TypedDataEncoder.hash(studyMarketDomain(market, chainId), STUDY_ID_ISSUANCE_TYPES, {
    studyId,
    ro: getAddress(ro),
    issuedUntil: until,
  });
  const key = typeof issuerKey === 'string' ? new SigningKey(issuerKey) : issuerKey;
  return { issuedUntil: until, issuance: key.sign(digest).serialized };
}

/** postStudy's last two arguments: `market.postStudy(id, …, maxBounty, ...issuanceArgs(issueStudyId(…)))`. */
export const issuanceArgs = (i: StudyIdIssuance): [bigint, string] => [i.issuedUntil, i.issuance];
