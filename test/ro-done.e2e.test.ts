import { keccak256 } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { increaseTime, latestTimestamp, DEV_ROLES } from '#devchain';
import { mined } from '#chain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { generateX25519KeyPair, openSealed, reportContext, sealTo } from '#lease';
import { parseCsv } from './support/csv.js';
import { GqlClient, signPrepared } from './support/client.js';
import { FETCH, POST, RELAY, RoSide, USD, claimThroughApi, openFetched, postingInput, registerKey } from './support/ro-flow.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

// distinctive PHI-like sample values: they go into the encrypted study, the report, and refused posting inputs
const PHI = ['Quackenbush, Zebulon', 'MRN 77341902', '1957-03-29', 'ACC99887766', 'Zebulon Quackenbush'];

/** Who is who in this file (dev account numbers, from DEV_ROLES). */
const RO = DEV_ROLES.roDepositor; // Mercy Imaging's depositor
const MERCY_BILLING = DEV_ROLES.roBilling[0]; // Mercy's billing staff
const READER = DEV_ROLES.radiologists[0];
const ADMIN = DEV_ROLES.deployer; // the test stack's admin

describe('done when: an RO posts, a radiologist reads and reports, settlement, reconciliation, and no PHI leaves the vault', () => {
  let stack: Stack;
  const captured: string[] = [];
  const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };

  beforeAll(async () => {
    // capture every service log line of the run (Nest's logger writes to stdout/stderr)
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => (
      captured.push(String(chunk)),
      originals.out(chunk as string, ...(rest as []))
    )) as typeof process.stdout.write;
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => (
      captured.push(String(chunk)),
      originals.err(chunk as string, ...(rest as []))
    )) as typeof process.stderr.write;
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
  });

  it('end to end: encrypted payload, lease, decrypted read, sealed report, settlement; zero discrepancies; CSV totals match the chain; no PHI in calldata, events or logs', async () => {
    const { owner, provider, deployment } = stack;
    const w = (i: number) => devWallet(i, provider);
    const client = async (i: number) => {
      const c = new GqlClient(stack.api);
      await c.signIn(w(i));
      return c;
    };
    const roKeys = generateX25519KeyPair();
    const ro = new RoSide(stack, w(RO), roKeys);
    await mined(owner.token.mint(w(RO).address, 1_000n * USD));
    await mined(owner.token.connect(w(RO)).getFunction('approve')(deployment.market, 1_000n * USD));
    await mined(
      owner.registry.attest(
        w(READER).address,
        toMask([stateIndex('CA')]),
        toMask([modalityIndex('CT')]),
        (await latestTimestamp(provider)) + 365 * 86400,
      ),
    );
    const admin = await client(ADMIN);
    const { createRo: mercy } = await admin.ok(
      `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id } }`,
      { n: 'Mercy Imaging', k: roKeys.publicKey, b: [w(MERCY_BILLING).address], d: [w(RO).address] },
    );
    await increaseTime(provider, 5);
    const from = new Date((await latestTimestamp(provider)) * 1000).toISOString();
    await mined(owner.market.connect(w(RO)).getFunction('deposit')(500n * USD));

    // PHI typed into posting fields is refused (and must not show up anywhere afterwards)
    const roClient = await client(RO);
    for (const bodyPart of PHI) expect(await roClient.code(POST, { i: postingInput({ bodyPart }) })).toBe('BAD_INPUT');

    // the RO posts a study whose (de-identified on the outside, PHI inside) payload is encrypted client-side
    const dicom = Buffer.from(
      `DICM|PatientName=${PHI[0]}|PatientID=${PHI[1]}|PatientBirthDate=${PHI[2]}|AccessionNumber=${PHI[3]}|` + 'x'.repeat(4096),
    );
    const studyId = await ro.post(roClient, dicom);

    // a radiologist claims, gets the lease, verifies the RO's signature, decrypts
    const reader = await client(READER);
    const readerKeys = generateX25519KeyPair();
    await registerKey(stack, reader, w(READER), readerKeys.publicKey);
    await claimThroughApi(stack, reader, READER, studyId);
    await ro.issuePendingLease(roClient, studyId);
    const { encryptedStudy: got } = await reader.ok(FETCH, { id: studyId });
    expect(got.lease.signer).toBe(w(RO).address.toLowerCase());
    // openClaimLease checks the signature against the study's RO and the claim on chain before it decrypts
    expect((await openFetched(stack, got, readerKeys.privateKey)).equals(dicom)).toBe(true);

    // the report, naming the patient, is sealed to the RO; only its hash goes on chain
    const report = Buffer.from(`CT chest for ${PHI[4]} (${PHI[1]}): no acute abnormality.`);
    const { submitEncryptedReport: rep } = await reader.ok(
      `mutation($id: ID!, $r: String!) { submitEncryptedReport(studyId: $id, sealedReport: $r) { reportHash transaction { to data chainId gasLimit } } }`,
      { id: studyId, r: sealTo(got.lease.reportKey, report, reportContext(studyId)).toString('base64') },
    );
    await reader.ok(RELAY, { tx: await signPrepared(w(READER), rep.transaction) });
    const staff = await client(MERCY_BILLING);
    const { encryptedReport } = await waitFor(
      'the report indexed',
      async () => (await staff.send(`query($id: ID!) { encryptedReport(studyId: $id) { reportHash sealedReport } }`, { id: studyId })).data,
    );
    const sealedReport = Buffer.from(encryptedReport.sealedReport, 'base64');
    expect(keccak256(sealedReport)).toBe((await owner.market.getStudy(studyId)).reportHash);
    expect(openSealed(roKeys.privateKey, sealedReport, reportContext(studyId)).equals(report)).toBe(true);

    // settle (the settler does it after the acceptance window)
    await increaseTime(provider, 24 * 3600 + 60);
    await waitFor(
      'the settlement indexed',
      async () => (await staff.ok(`query($id: ID!) { study(id: $id) { status } }`, { id: studyId })).study.status === 'SETTLED',
    );
    await increaseTime(provider, 5);
    const to = new Date((await latestTimestamp(provider)) * 1000).toISOString();

    // reconciliation: zero discrepancies; the CSV totals match the chain
    const { reconciliation: r, roLedgerCsv } = await staff.ok(
      `query($ro: String!, $from: DateTime!, $to: DateTime!) { reconciliation(roId: $ro, from: $from, to: $to) { fromBlock toBlock balanceIdentityHolds escrowIdentityHolds
        discrepancies { kind } } roLedgerCsv(roId: $ro, from: $from, to: $to) }`,
      { ro: mercy.id, from, to },
    );
    expect(r.discrepancies).toEqual([]);
    expect(r.balanceIdentityHolds && r.escrowIdentityHolds).toBe(true);
    const lines = parseCsv(roLedgerCsv);
    const sum = (k: string) => lines.filter((l) => l.kind === k).reduce((x, l) => x + BigInt(l.amount), 0n);
    const balanceAt = async (b: number) => (await owner.market.balanceOf(w(RO).address, { blockTag: b })) as bigint;
    expect(sum('DEPOSIT') - sum('WITHDRAWAL') - sum('ESCROW') + sum('REFUND')).toBe(
      (await balanceAt(r.toBlock)) - (await balanceAt(r.fromBlock - 1)),
    );
    const settled = await owner.market.getStudy(studyId);
    expect(sum('PAYOUT') + sum('FEE')).toBe(settled.lockedBounty);
    expect(sum('REFUND')).toBe(settled.maxBounty - settled.lockedBounty);
    expect(sum('DEPOSIT')).toBe(500n * USD);

    // the scan: every transaction's calldata and every log of every block of the run, and the captured logs
    const needles = PHI.flatMap((v) => [v.toLowerCase(), Buffer.from(v).toString('hex')]);
    const head = await provider.getBlockNumber();
    const haystack: string[] = [];
    for (let n = 0; n <= head; n++) {
      const block = await provider.getBlock(n, true);
      for (const tx of block!.prefetchedTransactions) haystack.push(tx.data);
    }
    for (const log of await provider.getLogs({ fromBlock: 0, toBlock: head })) haystack.push(log.data, ...log.topics);
    expect(haystack.length).toBeGreaterThan(20);
    expect(captured.join('').length).toBeGreaterThan(0);
    const all = [...haystack, ...captured].join('\n').toLowerCase();
    for (const n of needles) expect(all.includes(n), `found sample PHI ${JSON.stringify(n)}`).toBe(false);
    // and the scan would find it: the plaintext (in hex) contains every value
    const plainHex = dicom.toString('hex') + report.toString('hex');
    for (const v of PHI.slice(0, 4)) expect(plainHex.includes(Buffer.from(v).toString('hex'))).toBe(true);
  });
});
