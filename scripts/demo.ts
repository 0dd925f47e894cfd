/**
 * `npm run demo` (with `npm start` running) onboards a demo radiology organisation and fills the worklist, all through
 * the GraphQL API as each user would, signing in with SIWE as the dev accounts:
 *   admin (dev #12)      creates the RO "Demo Imaging" with its X25519 report key, its billing staff (#13, and #2) and
 *                        its depositor wallet (#2)
 *   depositor (dev #2)   deposits (prepareRoDeposit: approve + deposit), posts the studies (prepareStudyPosting,
 *                        signed and sent with relayTransaction) and uploads each one's encrypted payload (synthetic:
 *                        no patient data)
 *   radiologists #3, #4  apply for a credential; the verifier (dev #0) approves and sends the attestation
 * Safe to run more than once: the RO and credentials are reused, new studies get new random IDs. The RO's private
 * key (to issue study leases and open reports) is written to .openread/demo-ro.json.
 */
import { createProvider } from '#chain';
import { DEV_ROLES, devKey } from '#devchain';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addMonths, withNpiCheckDigit } from '#domain';
import { pathToFileURL } from 'node:url';
import { encryptPayload, generateStudyKey, generateX25519KeyPair, roKeyContext, sealTo } from '#lease';
import { ApiCallError, ApiClient, PREPARED_FIELDS } from './lib/api-client.js';
import { STATE_DIR } from './lib/local-stack.js';

const USD = 1_000_000n;
export const DEMO_RO_NAME = 'Demo Imaging';
/** Which dev account does what in the demo (README names them). */
export const DEMO_ACCOUNTS = {
  admin: DEV_ROLES.admin,
  verifier: DEV_ROLES.verifier,
  depositor: DEV_ROLES.roDepositor,
  billing: DEV_ROLES.roBilling,
  radiologists: DEV_ROLES.radiologists,
} as const;

const STUDIES: [modality: string, bodyPart: string, difficultyBps: number, urgency: string, state: string, maxUsd: bigint][] = [
  ['CT', 'HEAD', 15_000, 'STAT', 'CA', 300n],
  ['MR', 'SPINE', 20_000, 'URGENT', 'NY', 400n],
  ['XR', 'CHEST', 10_000, 'ROUTINE', 'TX', 50n],
  ['CT', 'ABDOMEN', 12_000, 'ROUTINE', 'NY', 150n],
  ['US', 'PELVIS', 10_000, 'URGENT', 'FL', 80n],
  ['MG', 'BREAST', 11_000, 'ROUTINE', 'GA', 90n],
  ['MR', 'HEAD', 25_000, 'STAT', 'CA', 900n],
  ['XR', 'LOWER_EXTREMITY', 10_000, 'ROUTINE', 'FL', 40n],
];
const RADIOLOGISTS: Record<number, { states: string[]; modalities: string[]; npiBase: string }> = {
  3: { states: ['CA', 'NY', 'TX'], modalities: ['CT', 'MR', 'XR'], npiBase: '100000003' },
  4: { states: ['FL', 'GA'], modalities: ['XR', 'US', 'MG'], npiBase: '100000004' },
};

export interface DemoOptions {
  /** the API's GraphQL URL, e.g. http://localhost:4000/graphql */
  apiUrl: string;
  /** the chain's JSON-RPC URL: the dev wallets fill in nonces and fees from it */
  rpcUrl: string;
  /** where the RO's key file goes (default .openread) */
  stateDir?: string;
  log?: (line: string) => void;
}

export interface DemoResult {
  roId: string;
  /** the RO's X25519 key pair: reports are sealed to it, and it opens its own study keys to re-encrypt each claim's copy (ClaimLeaseIssuer) */
  roKeys: { publicKey: string; privateKey: string };
  studyIds: string[];
}

/** Retries `fn` while the API answers FORBIDDEN (a role just granted on chain, not indexed yet), up to `ms`. */
async function once<T>(what: string, fn: () => Promise<T>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApiCallError && e.code === 'FORBIDDEN') || Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const log = opts.log ?? console.log;
  const stateDir = opts.stateDir ?? STATE_DIR;
  const provider = createProvider(opts.rpcUrl);
  // plain wallets: each relay waits until mined, so every signature reads the next nonce from the chain
  const wallet = (i: number) => devKey(i).connect(provider);
  const client = (i: number) => new ApiClient(opts.apiUrl).signIn(devKey(i));
  try {
    const depositorWallet = wallet(DEMO_ACCOUNTS.depositor);
    const depositor = await client(DEMO_ACCOUNTS.depositor);

    // 1. the admin onboards the RO (once): organisation, report key, billing staff, depositor wallet
    const keyFile = join(stateDir, 'demo-ro.json');
    const existing = (
      (await depositor.gql(`{ myRos { id name publicKey } }`)).myRos as { id: string; name: string; publicKey: string }[]
    ).find((r) => r.name === DEMO_RO_NAME);
    let roId: string;
    let roKeys: { publicKey: string; privateKey: string };
    if (existing) {
      roId = existing.id;
      const saved = existsSync(keyFile)
        ? (JSON.parse(readFileSync(keyFile, 'utf8')) as { roId: string; publicKey: string; privateKey: string })
        : null;
      if (!saved || saved.roId !== roId)
        throw new Error(`${DEMO_RO_NAME} exists but its key file ${keyFile} is missing or belongs to another RO`);
      roKeys = { publicKey: saved.publicKey, privateKey: saved.privateKey };
      log(`RO         ${DEMO_RO_NAME} (${roId}) exists; reusing it`);
    } else {
      const admin = await client(DEMO_ACCOUNTS.admin);
      roKeys = generateX25519KeyPair();
      const created = await admin
        .gql(
          `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id members { account role } } }`,
          {
            n: DEMO_RO_NAME,
            k: roKeys.publicKey,
            b: DEMO_ACCOUNTS.billing.map((i) => devKey(i).address),
            d: [devKey(DEMO_ACCOUNTS.depositor).address],
          },
        )
        .catch((e) => {
          if (e instanceof ApiCallError && e.code === 'FORBIDDEN')
            throw new Error(
              `dev account #${DEMO_ACCOUNTS.admin} (${devKey(DEMO_ACCOUNTS.admin).address}) is not an admin: start the API with ADMIN_ADDRESSES including it`,
            );
          throw e;
        });
      roId = created.createRo.id;
      writeFileSync(keyFile, JSON.stringify({ roId, ...roKeys }, null, 2), { mode: 0o600 });
      log(
        `RO         ${DEMO_RO_NAME} (${roId}) created by admin #${DEMO_ACCOUNTS.admin}: depositor #${DEMO_ACCOUNTS.depositor}, billing ${DEMO_ACCOUNTS.billing.map((i) => `#${i}`).join(', ')}; its key: ${keyFile}`,
      );
    }

    // 2. the depositor funds the RO's market balance: approve + deposit, signed by its wallet, relayed by the API
    const total = STUDIES.reduce((s, x) => s + x[5], 0n) * USD;
    const txs = (
      await depositor.gql(`mutation($ro: ID!, $a: String!) { prepareRoDeposit(roId: $ro, amount: $a) { ${PREPARED_FIELDS} } }`, {
        ro: roId,
        a: total.toString(),
      })
    ).prepareRoDeposit;
    for (const tx of txs) await depositor.signAndRelay(depositorWallet, tx);
    log(`deposit    ${total / USD} tUSD from #${DEMO_ACCOUNTS.depositor} (prepareRoDeposit → relayTransaction ×2)`);

    // 3. it posts each study and uploads its encrypted payload (a synthetic placeholder: no patient data anywhere)
    const studyIds: string[] = [];
    for (const [modality, bodyPart, difficultyBps, urgency, patientState, maxUsd] of STUDIES) {
      const { prepareStudyPosting: p } = await depositor.gql(
        `mutation($i: StudyPostingInput!) { prepareStudyPosting(input: $i) { studyId transaction { ${PREPARED_FIELDS} } } }`,
        { i: { modality, bodyPart, difficultyBps, urgency, patientState, maxBounty: (maxUsd * USD).toString() } },
      );
      await depositor.signAndRelay(depositorWallet, p.transaction);
      const studyKey = generateStudyKey();
      const payload = Buffer.from(
        JSON.stringify({ demo: true, note: 'synthetic OpenRead demo payload: no images, no patient data', modality, bodyPart }),
      );
      await depositor.gql(
        `mutation($id: ID!, $c: String!, $k: String!) { uploadStudyPayload(studyId: $id, ciphertext: $c, keyForRo: $k) }`,
        {
          id: p.studyId,
          c: encryptPayload(payload, studyKey, p.studyId).toString('base64'),
          k: sealTo(roKeys.publicKey, studyKey, roKeyContext(p.studyId)).toString('base64'),
        },
      );
      studyIds.push(p.studyId);
      log(`posted     ${p.studyId}  ${modality} ${bodyPart} ${urgency.padEnd(7)} ${patientState}  max ${maxUsd} tUSD`);
    }

    // 4. the radiologists apply for a credential (synthetic licence data); the verifier approves and sends the attestation
    const verifier = await client(DEMO_ACCOUNTS.verifier);
    const chainNow = (await provider.getBlock('latest'))!.timestamp;
    const expiresOn = new Date(addMonths(Math.max(chainNow, Math.floor(Date.now() / 1000)), 24) * 1000).toISOString().slice(0, 10);
    for (const i of DEMO_ACCOUNTS.radiologists) {
      const r = RADIOLOGISTS[i];
      const applicant = await client(i);
      const { myCredential } = await applicant.gql(`{ myCredential { active } }`);
      if (myCredential?.active) {
        log(`radiologist #${i} ${devKey(i).address} is credentialed already`);
        continue;
      }
      const pending = (
        (await applicant.gql(`{ myCredentialApplications { id status } }`)).myCredentialApplications as { id: string; status: string }[]
      ).find((a) => a.status === 'PENDING');
      const applicationId =
        pending?.id ??
        (
          await applicant.gql(`mutation($input: CredentialApplicationInput!) { applyForCredential(input: $input) { id } }`, {
            input: {
              npi: withNpiCheckDigit(r.npiBase),
              licences: r.states.map((state) => ({ state, number: `DEMO-${i}-${state}`, expiresOn })),
              modalities: r.modalities,
              boardCertification: { board: 'ABR', certificateNumber: `DEMO-ABR-${i}` },
            },
          })
        ).applyForCredential.id;
      // the verifier's role is indexed from the chain a moment after npm start
      const decision = await once('the verifier role', () =>
        verifier.gql(`mutation($id: ID!) { approveCredentialApplication(id: $id) { transaction { ${PREPARED_FIELDS} } } }`, {
          id: applicationId,
        }),
      );
      await verifier.signAndRelay(wallet(DEMO_ACCOUNTS.verifier), decision.approveCredentialApplication.transaction);
      log(
        `verified   radiologist #${i} ${devKey(i).address}: ${r.states.join('/')} for ${r.modalities.join('/')} (applyForCredential → approveCredentialApplication → relayTransaction)`,
      );
    }

    log(`
Demo ready. Sign in (SIWE) as:
  radiologist #3 or #4   worklist, claim, report, withdraw
  billing #13 (or #2)    roLedger(roId: "${roId}"), reconciliation, monthlyStatement
  depositor #2           prepareStudyPosting, prepareRoDeposit/Withdraw, prepareCancelStudy, prepareDisputeStudy, pendingLeases
  admin #12              createRo, addRoMember`);
    return { roId, roKeys, studyIds };
  } finally {
    provider.destroy();
  }
}

async function main() {
  let rpcUrl: string;
  try {
    rpcUrl = (JSON.parse(readFileSync(join(STATE_DIR, 'deployment.json'), 'utf8')) as { rpcUrl: string }).rpcUrl;
  } catch {
    throw new Error('no local deployment found: start the stack first with `npm start`');
  }
  const apiUrl = process.env.OPENREAD_API_URL ?? `http://localhost:${process.env.API_PORT ?? 4000}/graphql`;
  await runDemo({ apiUrl, rpcUrl: process.env.RPC_URL ?? rpcUrl });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  main().catch((e) => {
    console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
