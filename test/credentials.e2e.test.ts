import { HDNodeWallet, Interface, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ROLES } from '#devchain';
import { loadArtifact } from '#chain';
import { modalityIndex, stateIndex, toMask, addMonths, parseCalendarDate, withNpiCheckDigit } from '#domain';
import { GqlClient, signPrepared } from './support/client.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const APPLY = `mutation($input: CredentialApplicationInput!) {
  applyForCredential(input: $input) { id status applicant npi licences { state number expiresOn } modalities }
}`;
const APP_FIELDS = `id applicant status npi licences { state number expiresOn } modalities subspecialties
  boardCertification { board certificateNumber } rejectionReason credentialExpiresAt expiryReason revocationReason`;
const RELAY = `mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash function } }`;

const isoDate = (t: number) => new Date(t * 1000).toISOString().slice(0, 10);

describe('credential verification over HTTP, with the attestation on a real chain', () => {
  let stack: Stack;
  const output: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };
  beforeAll(async () => {
    stack = await startStack();
    // everything the apps print during this file, to prove no personal data reaches the logs
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => (
      output.push(String(chunk)),
      writes.out.call(process.stdout, chunk as never, ...(rest as []))
    )) as never;
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => (
      output.push(String(chunk)),
      writes.err.call(process.stderr, chunk as never, ...(rest as []))
    )) as never;
  });
  afterAll(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    await stack?.stop();
  });

  // One application's life, in order: each step continues from the one before (a journey, not independent tests),
  // on the stack and sessions set up once here.
  let now: number, caExpiry: string, nyExpiry: string, nyMidnight: number, npi: string;
  let input: {
    npi: string;
    licences: { state: string; number: string; expiresOn: string }[];
    modalities: string[];
    subspecialties: string[];
    boardCertification: { board: string; certificateNumber: string };
  };
  let applicantWallet: HDNodeWallet, verifierWallet: HDNodeWallet;
  let applicant: GqlClient, verifier: GqlClient;
  let applied: { id: string; licences: unknown };
  beforeAll(async () => {
    const { provider } = stack;
    now = (await provider.getBlock('latest'))!.timestamp;
    caExpiry = isoDate(addMonths(now, 48));
    nyExpiry = isoDate(addMonths(now, 7));
    nyMidnight = parseCalendarDate(nyExpiry)!;
    npi = withNpiCheckDigit('176543210');
    input = {
      npi,
      licences: [
        { state: 'ca', number: 'A-987654', expiresOn: caExpiry },
        { state: 'NY', number: '301234', expiresOn: nyExpiry },
      ],
      modalities: ['CT', 'MR'],
      subspecialties: ['NEURO'],
      boardCertification: { board: 'ABR', certificateNumber: 'ABR-55501' },
    };
    applicantWallet = devWallet(DEV_ROLES.radiologists[0], provider);
    applicant = new GqlClient(stack.api);
    await applicant.signIn(applicantWallet);
    verifierWallet = devWallet(DEV_ROLES.verifier, provider);
    verifier = new GqlClient(stack.api);
    await verifier.signIn(verifierWallet);
  });

  it('refuses bad input field by field, without echoing the value', async () => {
    // bad input is refused field by field, without echoing the value
    const badNpi = `${npi.slice(0, 9)}${(Number(npi[9]) + 1) % 10}`;
    for (const [change, field] of [
      [{ npi: badNpi }, 'npi'],
      [{ npi: '123' }, 'npi'],
      [{ licences: [{ state: 'ZZ', number: 'X1', expiresOn: caExpiry }] }, 'licences[0].state'],
      [{ licences: [{ state: 'CA', number: 'X1', expiresOn: '2030-02-30' }] }, 'licences[0].expiresOn'],
      [{ licences: [{ state: 'CA', number: 'X1', expiresOn: isoDate(now - 86400) }] }, 'already expired'],
      [{ licences: [input.licences[0], { ...input.licences[0], number: 'B-1' }] }, 'one licence per state'],
      [{ licences: [] }, 'licences'],
      [{ modalities: [] }, 'modalities'],
    ] as const) {
      const r = await applicant.send(APPLY, { input: { ...input, ...change } });
      expect(r.errors?.[0].extensions?.code, field).toBe('BAD_INPUT');
      expect(r.errors?.[0].message).toContain(field);
      expect(r.errors?.[0].message).not.toContain(badNpi);
    }
  });

  it('takes an application once, and only verifiers review it', async () => {
    applied = (await applicant.ok(APPLY, { input })).applyForCredential;
    expect(applied).toMatchObject({ status: 'PENDING', applicant: applicantWallet.address.toLowerCase(), npi, modalities: ['CT', 'MR'] });
    expect(applied.licences).toEqual([
      { state: 'CA', number: 'A-987654', expiresOn: caExpiry },
      { state: 'NY', number: '301234', expiresOn: nyExpiry },
    ]);
    expect(await applicant.code(APPLY, { input })).toBe('CONFLICT');

    // only verifiers review
    expect(await applicant.code(`{ pendingCredentialApplications { items { id } } }`)).toBe('FORBIDDEN');
    expect(
      await applicant.code(`mutation($id: ID!) { approveCredentialApplication(id: $id) { application { id } } }`, { id: applied.id }),
    ).toBe('FORBIDDEN');
  });

  it('a verifier pages through the pending applications and rejects one with a reason that only its applicant reads', async () => {
    // a second applicant, to be rejected
    const { provider } = stack;
    const other = new GqlClient(stack.api);
    await other.signIn(devWallet(DEV_ROLES.radiologists[1], provider));
    const otherApp = (await other.ok(APPLY, { input: { ...input, npi: withNpiCheckDigit('123456780') } })).applyForCredential;

    const queue = await waitFor(
      'the verifier role indexed',
      async () =>
        (await verifier.send(`{ pendingCredentialApplications(first: 1) { items { ${APP_FIELDS} } pageInfo { hasNextPage endCursor } } }`))
          .data,
    );
    expect(queue.pendingCredentialApplications.items.map((a: { id: string }) => a.id)).toEqual([applied.id]);
    expect(queue.pendingCredentialApplications.pageInfo.hasNextPage).toBe(true);
    const next = await verifier.ok(
      `query($after: String) { pendingCredentialApplications(first: 5, after: $after) { items { id } pageInfo { hasNextPage } } }`,
      {
        after: queue.pendingCredentialApplications.pageInfo.endCursor,
      },
    );
    expect(next.pendingCredentialApplications).toEqual({ items: [{ id: otherApp.id }], pageInfo: { hasNextPage: false } });

    expect(
      await verifier.code(`mutation($id: ID!) { rejectCredentialApplication(id: $id, reason: "") { application { id } } }`, {
        id: otherApp.id,
      }),
    ).toBe('BAD_INPUT');
    const rejected = await verifier.ok(
      `mutation($id: ID!) { rejectCredentialApplication(id: $id, reason: "licence could not be verified with the board") { application { status rejectionReason } transaction { data } } }`,
      { id: otherApp.id },
    );
    expect(rejected.rejectCredentialApplication).toEqual({
      application: { status: 'REJECTED', rejectionReason: 'licence could not be verified with the board' },
      transaction: null,
    });
    expect((await other.ok(`{ myCredentialApplications { status rejectionReason } }`)).myCredentialApplications).toEqual([
      { status: 'REJECTED', rejectionReason: 'licence could not be verified with the board' },
    ]);
    // an outsider cannot read someone's application
    expect(await other.code(`query($id: ID!) { credentialApplication(id: $id) { npi } }`, { id: applied.id })).toBe('NOT_FOUND');
  });

  it('approval prepares an attestation of masks and expiry only, which only a verifier relays; once indexed the applicant is a radiologist', async () => {
    // approve: the attestation carries masks and expiry only; expiry = the NY licence (earlier than 36 months)
    const { owner } = stack;
    const approval = (
      await verifier.ok(
        `mutation($id: ID!) { approveCredentialApplication(id: $id) { application { ${APP_FIELDS} } transaction { from to data chainId gasLimit } } }`,
        { id: applied.id },
      )
    ).approveCredentialApplication;
    expect(approval.application).toMatchObject({
      status: 'APPROVED',
      expiryReason: 'LICENCE:NY',
      credentialExpiresAt: new Date(nyMidnight * 1000).toISOString(),
    });
    expect(approval.transaction.to.toLowerCase()).toBe(stack.deployment.registry.toLowerCase());
    const call = new Interface(loadArtifact('CredentialRegistry').abi).parseTransaction({ data: approval.transaction.data })!;
    expect(call.name).toBe('attest');
    expect(call.args.toArray()).toEqual([
      applicantWallet.address,
      toMask([stateIndex('CA'), stateIndex('NY')]),
      toMask([modalityIndex('CT'), modalityIndex('MR')]),
      BigInt(nyMidnight),
    ]);
    expect(
      await verifier.code(`mutation($id: ID!) { approveCredentialApplication(id: $id) { application { id } } }`, { id: applied.id }),
    ).toBe('CONFLICT');
    expect(
      await verifier.code(`mutation($id: ID!) { rejectCredentialApplication(id: $id, reason: "changed my mind") { application { id } } }`, {
        id: applied.id,
      }),
    ).toBe('CONFLICT');

    // the applicant cannot relay an attestation (for themselves or anyone): the registry's functions need VERIFIER
    const forged = await signPrepared(applicantWallet, approval.transaction);
    expect(await applicant.code(RELAY, { tx: forged })).toBe('FORBIDDEN');

    const relayed = await verifier.ok(RELAY, { tx: await signPrepared(verifierWallet, approval.transaction) });
    expect(relayed.relayTransaction.function).toBe('attest');
    const onChain = await owner.registry.credentialOf(applicantWallet.address);
    expect(onChain.expiresAt).toBe(BigInt(nyMidnight));
    expect(await owner.registry.isEligible(applicantWallet.address, stateIndex('NY'), modalityIndex('MR'))).toBe(true);
    expect(await owner.registry.isEligible(applicantWallet.address, stateIndex('TX'), modalityIndex('MR'))).toBe(false);

    const cred = await waitFor(
      'the attestation indexed',
      async () => (await applicant.ok(`{ myCredential { states modalities expiresAt revoked active } }`)).myCredential,
    );
    expect(cred).toEqual({
      states: ['CA', 'NY'],
      modalities: ['CT', 'MR'],
      expiresAt: new Date(nyMidnight * 1000).toISOString(),
      revoked: false,
      active: true,
    });
    expect((await applicant.send(`{ worklist { items { id } } }`)).errors).toBeUndefined(); // now a RADIOLOGIST
  });

  // two more accounts applying under the NPI the first applicant was credentialed with
  const APPROVE = `mutation($id: ID!) { approveCredentialApplication(id: $id) { application { status } transaction { data } } }`;
  let sameNpi: { id: string }[];
  let sameNpiClients: GqlClient[];
  it('credentials one NPI to one wallet: approving it for a second account is a CONFLICT, over HTTP', async () => {
    const { provider } = stack;
    sameNpi = [];
    sameNpiClients = [];
    for (const i of [DEV_ROLES.radiologists[1], DEV_ROLES.spare[0]]) {
      const client = new GqlClient(stack.api);
      await client.signIn(devWallet(i, provider));
      sameNpi.push((await client.ok(APPLY, { input })).applyForCredential);
      sameNpiClients.push(client);
    }
    for (const app of sameNpi) {
      const r = await verifier.send(APPROVE, { id: app.id });
      expect(r.errors?.[0].extensions?.code).toBe('CONFLICT');
      expect(r.errors?.[0].message).toMatch(/NPI is already credentialed to another account/);
      expect(r.errors?.[0].message).not.toContain(npi);
      expect(
        (await verifier.ok(`query($id: ID!) { credentialApplication(id: $id) { status } }`, { id: app.id })).credentialApplication,
      ).toEqual({ status: 'PENDING' });
    }
  });

  it('a revocation, its reason kept off chain, ends the credential', async () => {
    // revocation, with a reason kept off chain
    expect(
      await verifier.code(`mutation($r: String!) { revokeCredential(radiologist: $r, reason: "licence suspended") { data } }`, {
        r: Wallet.createRandom().address,
      }),
    ).toBe('NOT_FOUND');
    const { owner } = stack;
    const revokeTx = (
      await verifier.ok(
        `mutation($r: String!) { revokeCredential(radiologist: $r, reason: "licence suspended by the state board") { from to data chainId gasLimit } }`,
        { r: applicantWallet.address },
      )
    ).revokeCredential;
    await verifier.ok(RELAY, { tx: await signPrepared(verifierWallet, revokeTx) });
    expect(await owner.registry.isEligible(applicantWallet.address, stateIndex('NY'), modalityIndex('MR'))).toBe(false);
    await waitFor('the revocation indexed', async () => (await applicant.ok(`{ myCredential { revoked } }`)).myCredential.revoked);
    expect((await applicant.ok(`{ myCredentialApplications { status revocationReason } }`)).myCredentialApplications[0]).toEqual({
      status: 'REVOKED',
      revocationReason: 'licence suspended by the state board',
    });
    expect(await applicant.code(`{ worklist { items { id } } }`)).toBe('FORBIDDEN');
  });

  it('once the holder is revoked the NPI is free again, for exactly one of two concurrent approvals', async () => {
    const results = await Promise.all(sameNpi.map((app) => verifier.send(APPROVE, { id: app.id })));
    const approved = results.filter((r) => !r.errors).map((r) => r.data.approveCredentialApplication.application.status);
    const refused = results.filter((r) => r.errors).map((r) => r.errors![0].extensions?.code);
    expect(approved).toEqual(['APPROVED']);
    expect(refused).toEqual(['CONFLICT']);

    // the holder's own renewal under the same NPI is approved while its first approval stands
    const holder = sameNpiClients[results.findIndex((r) => !r.errors)];
    const renewal = (await holder.ok(APPLY, { input })).applyForCredential;
    expect((await verifier.ok(APPROVE, { id: renewal.id })).approveCredentialApplication.application.status).toBe('APPROVED');
  });

  it('nothing personal reached the logs of the steps above', async () => {
    // nothing personal reached the logs
    const logs = output.join('');
    for (const secret of [npi, 'A-987654', '301234', 'ABR-55501']) expect(logs).not.toContain(secret);
  });
});
