import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateX25519KeyPair, keyBindingDomain, signKeyBinding } from '#lease';
import { DEMO_ACCOUNTS, DemoResult, runDemo } from '../scripts/demo.js';
import { ApiClient, GASLESS_FIELDS } from '../scripts/lib/api-client.js';
import { devKey, DEV_ROLES } from '#devchain';
import { GqlClient } from './support/client.js';
import { FETCH, REGISTER_KEY, RoSide, openFetched } from './support/ro-flow.js';
import { Stack, apiUrl, devWallet, startStack } from './support/stack.js';

const USD = 1_000_000n;

describe('npm run demo: a demo RO onboarded and its studies posted through the API, so every role can act at once', () => {
  let stack: Stack;
  let stateDir: string;
  let demo: DemoResult;
  const lines: string[] = [];
  const as = (i: number) => new ApiClient(apiUrl(stack)).signIn(devKey(i));

  beforeAll(async () => {
    // npm start's deployment (#2 holds 100,000 tUSD, the DAO holds every admin power) and its admin, dev #12
    stack = await startStack({ asNpmStart: true, api: { adminAddresses: [devKey(DEMO_ACCOUNTS.admin).address.toLowerCase()] } });
    stateDir = mkdtempSync(join(tmpdir(), 'openread-demo-'));
    demo = await runDemo({ apiUrl: apiUrl(stack), rpcUrl: stack.anvil.rpcUrl, stateDir, log: (l) => lines.push(l) });
  });
  afterAll(async () => {
    await stack?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates the RO with its key, billing staff and depositor; deposits and posts eight studies with payloads, all through the API', async () => {
    expect(demo.studyIds).toHaveLength(8);
    const saved = JSON.parse(readFileSync(join(stateDir, 'demo-ro.json'), 'utf8'));
    expect(saved).toEqual({ roId: demo.roId, ...demo.roKeys });
    expect(statSync(join(stateDir, 'demo-ro.json')).mode & 0o077).toBe(0); // the RO's private key: owner-only
    const depositor = await as(DEV_ROLES.roDepositor);
    const { ro } = await depositor.gql(`query($id: ID!) { ro(id: $id) { name publicKey members { account role } depositBalance } }`, {
      id: demo.roId,
    });
    expect(ro.publicKey).toBe(demo.roKeys.publicKey);
    expect(ro.members).toEqual(
      expect.arrayContaining([
        { account: devKey(DEV_ROLES.roDepositor).address.toLowerCase(), role: 'DEPOSITOR' },
        { account: devKey(DEV_ROLES.roDepositor).address.toLowerCase(), role: 'BILLING' },
        { account: devKey(DEV_ROLES.roBilling[0]).address.toLowerCase(), role: 'BILLING' },
      ]),
    );
    expect(ro.depositBalance).toBe('0'); // the deposit covers exactly the eight bounty caps, all escrowed
    // the market holds what the API said: posted by #2, every one with its payload
    for (const id of demo.studyIds) expect((await stack.owner.market.getStudy(id)).ro).toBe(devKey(DEV_ROLES.roDepositor).address);
  });

  it("billing staff read the RO's ledger and reconciliation at once: the deposit and eight escrows", async () => {
    const billing = await as(DEV_ROLES.roBilling[0]);
    const { roLedger } = await billing.gql(
      `query($ro: String!) { roLedger(roId: $ro, first: 100) { entries { kind amount studyId } totals { deposits escrowed } } }`,
      { ro: demo.roId },
    );
    expect(
      roLedger.entries
        .filter((e: { kind: string }) => e.kind === 'ESCROW')
        .map((e: { studyId: string }) => e.studyId)
        .sort(),
    ).toEqual([...demo.studyIds].sort());
    expect(roLedger.totals.deposits).toBe(roLedger.totals.escrowed);
    expect(BigInt(roLedger.totals.deposits)).toBe(2010n * USD);
    const now = new Date(Date.now() + 3600_000).toISOString();
    const { reconciliation } = await billing.gql(
      `query($ro: String!, $from: DateTime!, $to: DateTime!) { reconciliation(roId: $ro, from: $from, to: $to) { periodClosed discrepancies { kind } } }`,
      {
        ro: demo.roId,
        from: '2020-01-01T00:00:00.000Z',
        to: now,
      },
    );
    expect(reconciliation.discrepancies).toEqual([]);
  });

  it('the verified radiologists see their studies; #3 claims one, the RO leases it, #3 opens the synthetic payload', async () => {
    const r3 = await as(DEV_ROLES.radiologists[0]);
    const r4 = await as(DEV_ROLES.radiologists[1]);
    const list = async (c: ApiClient) =>
      (await c.gql(`{ worklist(first: 50) { items { id modality patientState } } }`)).worklist.items as {
        id: string;
        patientState: string;
      }[];
    const [w3, w4] = [await list(r3), await list(r4)];
    expect(w3).toHaveLength(5); // CA/NY/TX for CT/MR/XR
    expect(w4).toHaveLength(3); // FL/GA for XR/US/MG
    for (const s of [...w3, ...w4]) expect(demo.studyIds).toContain(s.id);

    const keys = generateX25519KeyPair();
    await r3.gql(REGISTER_KEY, {
      k: keys.publicKey,
      b: await signKeyBinding(
        devWallet(DEV_ROLES.radiologists[0], stack.provider),
        keyBindingDomain(stack.deployment.chainId, stack.deployment.market),
        keys.publicKey,
      ),
    });
    const studyId = w3[0].id;
    const claimed = await r3.signAndRelayGasless(
      devWallet(DEV_ROLES.radiologists[0], stack.provider),
      (await r3.gql(`mutation($id: ID!) { p: prepareGaslessClaim(studyId: $id) { ${GASLESS_FIELDS} } }`, { id: studyId })).p,
    );
    expect(claimed.function).toBe('claim');
    // the RO's depositor issues the lease with the key the demo saved
    const roClient = new GqlClient(stack.api);
    await roClient.signIn(devWallet(DEV_ROLES.roDepositor, stack.provider));
    await new RoSide(stack, devWallet(DEV_ROLES.roDepositor, stack.provider), demo.roKeys).issuePendingLease(roClient, studyId);
    const reader = new GqlClient(stack.api);
    await reader.signIn(devWallet(DEV_ROLES.radiologists[0], stack.provider));
    const { encryptedStudy } = await reader.ok(FETCH, { id: studyId });
    expect(JSON.parse((await openFetched(stack, encryptedStudy, keys.privateKey)).toString())).toMatchObject({ demo: true });
  });

  it('runs again without failing: reuses the RO and the credentials, posts eight new studies', async () => {
    lines.length = 0;
    const again = await runDemo({ apiUrl: apiUrl(stack), rpcUrl: stack.anvil.rpcUrl, stateDir, log: (l) => lines.push(l) });
    expect(again.roId).toBe(demo.roId);
    expect(again.studyIds).toHaveLength(8);
    expect(again.studyIds.some((id) => demo.studyIds.includes(id))).toBe(false);
    expect(lines.join('\n')).toMatch(/exists; reusing it/);
    expect(lines.filter((l) => l.includes('is credentialed already'))).toHaveLength(2);
  });
});
