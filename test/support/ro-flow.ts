import type { HDNodeWallet } from 'ethers';
import {
  encryptPayload,
  generateStudyKey,
  keyBindingDomain,
  leaseContext,
  leaseDomain,
  leaseTerms,
  openSealed,
  roKeyContext,
  sealTo,
  signKeyBinding,
  signLease,
  verifyKeyBinding,
} from '#lease';
import { GqlClient, signPrepared } from './client.js';
import { Stack, devWallet, waitFor } from './stack.js';

export const USD = 1_000_000n;
export const POST = `mutation($i: StudyPostingInput!) { prepareStudyPosting(input: $i) { studyId transaction { from to data chainId gasLimit } } }`;
export const RELAY = `mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash function } }`;
export const FETCH = `query($id: ID!) { encryptedStudy(studyId: $id) { studyId ciphertext sha256
  lease { studyId radiologist recipientKey wrappedKey issuedAt expiresAt reportKey signer signature } } }`;
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

  /** Issues the lease of a pending claim, re-sealing the study key from the RO's own copy. */
  /** `trustApi` skips the RO side's own binding check, to show what the API refuses on its own. */
  async issuePendingLease(roClient: GqlClient, studyId: string, { trustApi = false } = {}) {
    const pending = await waitFor('the claim to need a lease', async () => {
      const d = await roClient.ok(`{ pendingLeases { studyId radiologist recipientKey recipientKeyBinding expiresAt keyForRo } }`);
      return d.pendingLeases.find((p: { studyId: string }) => p.studyId === studyId);
    });
    // trust neither the API nor its database: the claimant comes from the chain, the key from the claimant's signature
    const claimant = ((await this.stack.owner.market.getStudy(studyId)).radiologist as string).toLowerCase();
    if (pending.radiologist !== claimant) throw new UnboundKeyError('the API names another claimant than the chain');
    const domain = keyBindingDomain(this.stack.deployment.chainId, this.stack.deployment.market);
    const bound = async () =>
      pending.recipientKey !== null &&
      pending.recipientKeyBinding !== null &&
      (await verifyKeyBinding(this.stack.provider, domain, claimant, pending.recipientKey, pending.recipientKeyBinding));
    if (!trustApi && !(await bound()))
      throw new UnboundKeyError("the claimant's key is not bound to the claimant's wallet: no study key sealed");
    const studyKey = openSealed(this.keys.privateKey, Buffer.from(pending.keyForRo, 'base64'), roKeyContext(studyId));
    const wrapped = sealTo(pending.recipientKey, studyKey, leaseContext(studyId, pending.radiologist));
    const issuedAt = (await this.stack.provider.getBlock('latest'))!.timestamp;
    const terms = leaseTerms(
      {
        studyId,
        radiologist: pending.radiologist,
        recipientKey: pending.recipientKey,
        issuedAt,
        expiresAt: pending.expiresAt,
        reportKey: this.keys.publicKey,
      },
      wrapped,
    );
    const signature = await signLease(this.wallet, leaseDomain(this.stack.deployment.chainId, this.stack.deployment.market), terms);
    const lease = {
      studyId,
      radiologist: pending.radiologist,
      recipientKey: pending.recipientKey,
      wrappedKey: wrapped.toString('base64'),
      issuedAt,
      expiresAt: pending.expiresAt,
      reportKey: this.keys.publicKey,
      signature,
    };
    const sent = await roClient.send(`mutation($l: LeaseInput!) { issueLease(lease: $l) { expiresAt } }`, { l: lease });
    if (sent.errors)
      throw Object.assign(new Error(`issueLease refused: ${sent.errors[0].message}`), { code: sent.errors[0].extensions?.code });
    return lease;
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
