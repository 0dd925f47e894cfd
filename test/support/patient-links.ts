/**
 * A study's patient on chain for the end-to-end tests, as docs/patients.md describes it: the custodian RO proposes a
 * link commitment (PatientLinks.proposeLink), the patient's fresh per-study link key signs the acceptance and,
 * later, the revocation of the custodian's custody (EIP-712, domain `OpenRead PatientLinks` / `1`), and a relayer
 * submits both (the patient needs no ETH). PatientLinks.revoke calls StudyCustody.revokeCustody.
 */
import { AbiCoder, Contract, Wallet, hexlify, keccak256, randomBytes, type Signer } from 'ethers';
import { loadArtifact, mined } from '#chain';

const LINK = [
  { name: 'studyId', type: 'bytes32' },
  { name: 'commitment', type: 'bytes32' },
  { name: 'deadline', type: 'uint256' },
];

/** A linked patient of one study: the link key (a fresh account, not the patient's wallet), its salt and commitment. */
export interface LinkedPatient {
  studyId: string;
  key: Wallet;
  salt: string;
  commitment: string;
}

const links = (address: string, runner: Signer) => new Contract(address, loadArtifact('PatientLinks').abi, runner);

async function sign(
  address: string,
  chainId: bigint,
  key: Wallet,
  type: 'LinkAcceptance' | 'CustodyRevocation',
  p: LinkedPatient,
  deadline: bigint,
) {
  return key.signTypedData(
    { name: 'OpenRead PatientLinks', version: '1', chainId, verifyingContract: address },
    { [type]: LINK },
    { studyId: p.studyId, commitment: p.commitment, deadline },
  );
}

/** The custodian (an account of the study's RO) proposes the link, the patient's link key accepts, `relayer` submits. */
export async function linkPatient(patientLinks: string, custodian: Signer, relayer: Signer, studyId: string): Promise<LinkedPatient> {
  const chainId = (await relayer.provider!.getNetwork()).chainId;
  const key = new Wallet(hexlify(randomBytes(32)));
  const salt = hexlify(randomBytes(32));
  const commitment = keccak256(
    AbiCoder.defaultAbiCoder().encode(['address', 'bytes32', 'bytes32', 'uint256'], [key.address, salt, studyId, chainId]),
  );
  const p: LinkedPatient = { studyId, key, salt, commitment };
  await mined(links(patientLinks, custodian).proposeLink(studyId, commitment));
  const deadline = 2n ** 40n;
  const sig = await sign(patientLinks, chainId, p.key, 'LinkAcceptance', p, deadline);
  await mined(links(patientLinks, relayer).acceptLink(studyId, key.address, salt, deadline, sig));
  return p;
}

/** The linked patient revokes the custodian's custody (CustodyRevoked); `relayer` submits. Returns the receipt. */
export async function revokeCustody(patientLinks: string, relayer: Signer, p: LinkedPatient) {
  const chainId = (await relayer.provider!.getNetwork()).chainId;
  const deadline = 2n ** 40n;
  const sig = await sign(patientLinks, chainId, p.key, 'CustodyRevocation', p, deadline);
  return mined(links(patientLinks, relayer).revoke(p.studyId, p.key.address, p.salt, deadline, sig));
}
