import { keccak256, type HDNodeWallet } from 'ethers';
import {
  ClaimIssueRefusedError,
  ClaimLeaseIssuer,
  encryptPayload,
  generateStudyKey,
  keyBindingDomain,
  openClaimLease,
  roKeyContext,
  sealTo,
  signKeyBinding,
  type ClaimLeasePackage,
} from '#lease';
import { GqlClient, signPrepared } from './client.js';
import { Stack, devWallet, waitFor } from './stack.js';

export const USD = 1_000_000n;
export const POST = `mutation($i: StudyPostingInput!) { prepareStudyPosting(input: $i) { studyId transaction { from to data chainId gasLimit } } }`;
export const RELAY = `mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash function } }`;
export const FETCH = `query($id: ID!) { encryptedStudy(studyId: $id) { studyId ciphertext sha256
  lease { studyId radiologist recipientKey wrappedKey issuedAt expiresAt reportKey signer signature claimedAt ciphertextHash } } }`;

/** What `encryptedStudy` answers (FETCH), as the package `openClaimLease` takes. */
export interface FetchedStudy {
  ciphertext: string;
  lease: {
    studyId: string;
    radiologist: string;
    recipientKey: string;
    wrappedKey: string;
    issuedAt: number;
    expiresAt: number;
    reportKey: string;
    signature: string;
    claimedAt: number;
    ciphertextHash: string;
  };
}
export const packageOf = ({ ciphertext, lease: l }: FetchedStudy): ClaimLeasePackage => ({
  terms: {
    studyId: l.studyId,
    radiologist: l.radiologist,
    recipientKey: l.recipientKey,
    claimedAt: l.claimedAt,
    expiresAt: l.expiresAt,
    issuedAt: l.issuedAt,
    ciphertextHash: l.ciphertextHash,
    wrappedKeyHash: keccak256(Buffer.from(l.wrappedKey, 'base64')),
    reportKey: l.reportKey,
  },
  ciphertext: Buffer.from(ciphertext, 'base64'),
  wrappedKey: Buffer.from(l.wrappedKey, 'base64'),
  signature: l.signature,
});

/** The radiologist opens what `encryptedStudy` served, checked against StudyMarket on chain. */
export const openFetched = (stack: Stack, fetched: FetchedStudy, privateKey: string): Promise<Buffer> =>
  openClaimLease(stack.provider, stack.deployment.market, packageOf(fetched), privateKey);
export const postingInput = (over: Record<string, unknown> = {}) => ({
  modality: 'CT',
  bodyPart: 'CHEST',
  difficultyBps: 12_000,
  urgency: 'ROUTINE',
  patientState: 'CA',
  maxBounty: (200n * USD).toString(),
  ...over,
});

export const CREATE_RO = `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id } }`;

/** An admin creates an RO with its staff (addresses) through the API; returns the RO's ID. */
export async function createRo(
  admin: GqlClient,
  ro: { name: string; publicKey: string; billing: string[]; depositors: string[] },
): Promise<string> {
  const data = await admin.ok<{ createRo: { id: string } }>(CREATE_RO, { n: ro.name, k: ro.publicKey, b: ro.billing, d: ro.depositors });
  return data.createRo.id;
}

export const REGISTER_KEY = `mutation($k: String!, $b: String!) { registerEncryptionKey(publicKey: $k, binding: $b) }`;

/** A radiologist registers their X25519 key with their wallet's EIP-712 binding of it. */
export async function registerKey(stack: Stack, c: GqlClient, wallet: HDNodeWallet, publicKey: string): Promise<void> {
  const binding = await signKeyBinding(wallet, keyBindingDomain(stack.deployment.chainId, stack.deployment.market), publicKey);
  await c.ok(REGISTER_KEY, { k: publicKey, b: binding });
}

/** The GraphQL LeaseInput of issueLease. */
export interface LeaseInput {
  studyId: string;
  radiologist: string;
  recipientKey: string;
  wrappedKey: string;
  issuedAt: number;
  expiresAt: number;
  claimedAt: number;
  reportKey: string;
  ciphertext: string;
  signature: string;
}

/** The RO side refused to seal a study key: the key the API names is not bound to the claimant on chain. */
export class UnboundKeyError extends Error {}

/** The RO side of the lease protocol for one RO: its posting wallet and its X25519 key pair. */
export class RoSide {
  constructor(
    private readonly stack: Stack,
    readonly wallet: HDNodeWallet,
    readonly keys: { publicKey: string; privateKey: string },
  ) {}

  /** Prepares, signs and relays a posting; encrypts and uploads the payload. */
  async post(roClient: GqlClient, plaintext: Buffer, over: Record<string, unknown> = {}): Promise<string> {
    const { prepareStudyPosting: p } = await roClient.ok(POST, { i: postingInput(over) });
    await roClient.ok(RELAY, { tx: await signPrepared(this.wallet, p.transaction) });
    const studyKey = generateStudyKey();
    await roClient.ok(`mutation($id: ID!, $c: String!, $k: String!) { uploadStudyPayload(studyId: $id, ciphertext: $c, keyForRo: $k) }`, {
      id: p.studyId,
      c: encryptPayload(plaintext, studyKey, p.studyId).toString('base64'),
      k: sealTo(this.keys.publicKey, studyKey, roKeyContext(p.studyId)).toString('base64'),
    });
    return p.studyId as string;
  }

  /**
   * Issues the lease package of a pending claim with `ClaimLeaseIssuer` (a fresh lease key, the study re-encrypted
   * under it from the RO's own copy). `trustApi` skips the RO side's own chain and binding checks, to show what the
   * API refuses on its own; `alter` changes the LeaseInput before it is sent (tamper tests).
   */
  async issuePendingLease(
    roClient: GqlClient,
    studyId: string,
    { trustApi = false, alter = (l: LeaseInput) => l }: { trustApi?: boolean; alter?: (lease: LeaseInput) => LeaseInput } = {},
  ) {
    const pending = await waitFor('the claim to need a lease', async () => {
      const d = await roClient.ok(
        `{ pendingLeases { studyId radiologist recipientKey recipientKeyBinding expiresAt claimedAt keyForRo } }`,
      );
      return d.pendingLeases.find((p: { studyId: string }) => p.studyId === studyId);
    });
    const { ownStudyPayload: own } = await roClient.ok(`query($id: ID!) { ownStudyPayload(studyId: $id) { ciphertext keyForRo } }`, {
      id: studyId,
    });
    const held = { envelope: Buffer.from(own.ciphertext, 'base64'), keyForRo: Buffer.from(own.keyForRo, 'base64') };
    const issuer = new ClaimLeaseIssuer({
      provider: this.stack.provider,
      chainId: this.stack.deployment.chainId,
      market: this.stack.deployment.market,
      signer: this.wallet,
      roKeys: this.keys,
    });
    const claim = {
      studyId,
      radiologist: pending.radiologist,
      claimedAt: pending.claimedAt,
      expiresAt: pending.expiresAt,
      recipientKey: pending.recipientKey,
      recipientKeyBinding: pending.recipientKeyBinding,
    };
    // trust neither the API nor its database: the claimant and expiry come from the chain, the key from the claimant's signature
    let pkg: ClaimLeasePackage;
    if (trustApi) pkg = await issuer.seal(claim, held, (await this.stack.provider.getBlock('latest'))!.timestamp);
    else {
      if (pending.recipientKey === null || pending.recipientKeyBinding === null)
        throw new UnboundKeyError('the claimant registered no bound key: no lease key sealed');
      try {
        pkg = await issuer.issue(claim, held);
      } catch (e) {
        if (e instanceof ClaimIssueRefusedError && e.reason === 'KEY_NOT_BOUND') throw new UnboundKeyError(e.message);
        if (e instanceof ClaimIssueRefusedError && e.reason === 'NOT_CURRENT_CLAIM')
          throw new UnboundKeyError(`the API names another claim than the chain: ${e.message}`);
        throw e;
      }
    }
    const lease: LeaseInput = {
      studyId,
      radiologist: pending.radiologist,
      recipientKey: pending.recipientKey,
      wrappedKey: pkg.wrappedKey.toString('base64'),
      issuedAt: pkg.terms.issuedAt,
      expiresAt: pkg.terms.expiresAt,
      claimedAt: pkg.terms.claimedAt,
      reportKey: this.keys.publicKey,
      ciphertext: pkg.ciphertext.toString('base64'),
      signature: pkg.signature,
    };
    const sent = await roClient.send(`mutation($l: LeaseInput!) { issueLease(lease: $l) { expiresAt } }`, { l: alter(lease) });
    if (sent.errors)
      throw Object.assign(new Error(`issueLease refused: ${sent.errors[0].message}`), { code: sent.errors[0].extensions?.code });
    return pkg;
  }
}

/** A radiologist (dev account `i`, from DEV_ROLES) claims a study once it is indexed, through the API and the relay. */
export async function claimThroughApi(stack: Stack, c: GqlClient, i: number, studyId: string) {
  await waitFor(
    'the posting indexed',
    async () => (await c.send(`query($id: ID!) { study(id: $id) { id } }`, { id: studyId })).data?.study,
  );
  const { claimStudy } = await c.ok(`mutation($id: ID!) { claimStudy(studyId: $id) { to data chainId gasLimit } }`, { id: studyId });
  await c.ok(RELAY, { tx: await signPrepared(devWallet(i, stack.provider), claimStudy) });
  await waitFor(
    'the claim indexed',
    async () => (await c.ok(`query($id: ID!) { study(id: $id) { status } }`, { id: studyId })).study.status === 'CLAIMED',
  );
}
