import { AbiCoder, SigningKey, TypedDataEncoder, concat, getAddress, id, keccak256, type BytesLike } from 'ethers';

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
 * Synchronous and cheap (one hash and one secp256k1 signature on the digest). `issuedUntil` defaults to
 * now + DEFAULT_ISSUANCE_SECONDS (local clock). For many issuances on one market use studyIdIssuerFor.
 */
export function issueStudyId(
  issuerKey: string | SigningKey,
  market: string,
  chainId: number | bigint,
  ro: string,
  studyId: BytesLike,
  issuedUntil?: bigint | number,
): StudyIdIssuance {
  return studyIdIssuerFor(issuerKey, market, chainId)(ro, studyId, issuedUntil);
}

const TYPEHASH = id('StudyIdIssuance(bytes32 studyId,address ro,uint64 issuedUntil)');

/**
 * issueStudyId bound to one issuer key and market: the domain separator is hashed once, and each issuance costs a
 * struct hash and a signature on the digest (~0.4 ms), so bulk generators can sign tens of thousands.
 */
export function studyIdIssuerFor(
  issuerKey: string | SigningKey,
  market: string,
  chainId: number | bigint,
): (ro: string, studyId: BytesLike, issuedUntil?: bigint | number) => StudyIdIssuance {
  const key = typeof issuerKey === 'string' ? new SigningKey(issuerKey) : issuerKey;
  const domainSeparator = TypedDataEncoder.hashDomain(studyMarketDomain(market, chainId));
  const coder = AbiCoder.defaultAbiCoder();
  return (ro, studyId, issuedUntil) => {
    const until = BigInt(issuedUntil ?? Math.floor(Date.now() / 1000) + DEFAULT_ISSUANCE_SECONDS);
    const structHash = keccak256(coder.encode(['bytes32', 'bytes32', 'address', 'uint64'], [TYPEHASH, studyId, getAddress(ro), until]));
    const digest = keccak256(concat(['0x1901', domainSeparator, structHash]));
    return { issuedUntil: until, issuance: key.sign(digest).serialized };
  };
}

/** postStudy's last two arguments: `market.postStudy(id, …, maxBounty, ...issuanceArgs(issueStudyId(…)))`. */
export const issuanceArgs = (i: StudyIdIssuance): [bigint, string] => [i.issuedUntil, i.issuance];
