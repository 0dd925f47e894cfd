import { randomBytes } from 'node:crypto';
import { mined, waitForReceipt, loadArtifact, decodeThrownError, STUDY_ID_ISSUANCE_TYPES, issueStudyId, studyMarketDomain } from '#chain';
import { increaseTime, DEV_ROLES } from '#devchain';
import { Contract, keccak256, verifyTypedData } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLogAnchorService, startSettlerHealth } from '#settler';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { generateX25519KeyPair, keyBindingDomain, openSealed, reportContext, sealTo, signKeyBinding } from '#lease';
import { GqlClient, signPrepared } from './support/client.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';
import {
  FETCH,
  POST,
  openFetched,
  REGISTER_KEY,
  RELAY,
  RoSide,
  USD,
  UnboundKeyError,
  claimThroughApi,
  postingInput,
  registerKey,
} from './support/ro-flow.js';

const input = postingInput;
const POST_ISSUED = `mutation($i: StudyPostingInput!) { prepareStudyPosting(input: $i) { studyId issuedUntil issuance transaction { from to data chainId gasLimit } } }`;

/** Who is who in this file (dev account numbers, from DEV_ROLES). */
const RO = DEV_ROLES.roDepositor; // Mercy Imaging's depositor
const MERCY_BILLING = DEV_ROLES.roBilling[0]; // Mercy's billing staff
const VALLEY = DEV_ROLES.spare[0]; // Valley Radiology's depositor and billing
const READER = DEV_ROLES.radiologists[0];
const INTRUDER = DEV_ROLES.radiologists[1]; // a licensed radiologist who did not claim the study
const ADMIN = DEV_ROLES.deployer; // the test stack's admin

describe('RO accounts, posting and the study lease protocol', () => {
  let stack: Stack;
  let admin: GqlClient;
  const roKeys = generateX25519KeyPair();
  const ro = () => devWallet(RO, stack.provider); // depositor of "Mercy Imaging"
  const billing = () => devWallet(MERCY_BILLING, stack.provider); // billing staff of "Mercy Imaging"
  const otherRo = () => devWallet(VALLEY, stack.provider); // depositor and billing of "Valley Radiology"
  let mercy: { id: string };
  let valley: { id: string };

  const client = async (i: number) => {
    const c = new GqlClient(stack.api);
    await c.signIn(devWallet(i, stack.provider));
    return c;
  };

  const side = () => new RoSide(stack, ro(), roKeys);
  const post = (roClient: GqlClient, plaintext: Buffer) => side().post(roClient, plaintext);
  const issuePendingLeases = (roClient: GqlClient, studyId: string) => side().issuePendingLease(roClient, studyId);
  const claim = (c: GqlClient, i: number, studyId: string) => claimThroughApi(stack, c, i, studyId);

  beforeAll(async () => {
    stack = await startStack();
    const { owner, provider } = stack;
    const market = owner.market.connect(ro()) as typeof owner.market;
    await mined(owner.token.mint(ro().address, 1_000n * USD));
    await mined((owner.token.connect(ro()) as typeof owner.token).approve(await market.getAddress(), 1_000n * USD));
    await mined(market.deposit(1_000n * USD));
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    for (const i of [READER, INTRUDER])
      await mined(owner.registry.attest(devWallet(i, provider).address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));

    admin = await client(ADMIN);
    const create = `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id name members { account role } } }`;
    mercy = (await admin.ok(create, { n: 'Mercy Imaging', k: roKeys.publicKey, b: [billing().address], d: [ro().address] })).createRo;
    valley = (
      await admin.ok(create, {
        n: 'Valley Radiology',
        k: generateX25519KeyPair().publicKey,
        b: [otherRo().address],
        d: [otherRo().address],
      })
    ).createRo;
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('billing staff see their own RO, and another RO is FORBIDDEN; a wallet deposits for one RO only; only admins onboard', async () => {
    const staff = await client(MERCY_BILLING);
    expect((await staff.ok(`{ myRos { id name } }`)).myRos).toEqual([{ id: mercy.id, name: 'Mercy Imaging' }]);
    const mine = await staff.ok(`query($id: ID!) { ro(id: $id) { publicKey members { account role } } }`, { id: mercy.id });
    expect(mine.ro.publicKey).toBe(roKeys.publicKey);
    expect(mine.ro.members).toEqual(
      expect.arrayContaining([
        { account: billing().address.toLowerCase(), role: 'BILLING' },
        { account: ro().address.toLowerCase(), role: 'DEPOSITOR' },
      ]),
    );
    expect(await staff.code(`query($id: ID!) { ro(id: $id) { id } }`, { id: valley.id })).toBe('FORBIDDEN');
    expect(await staff.code(`query($id: String!) { roLedger(roId: $id) { roId } }`, { id: valley.id })).toBe('FORBIDDEN');
    expect((await staff.ok(`query($id: String!) { roLedger(roId: $id) { totals { deposits } } }`, { id: mercy.id })).roLedger).toBeTruthy();
    const other = await client(VALLEY);
    expect(await other.code(`query($id: String!) { roLedger(roId: $id) { roId } }`, { id: mercy.id })).toBe('FORBIDDEN');
    // Mercy's depositor is not Mercy's billing staff
    const depositor = await client(RO);
    expect(await depositor.code(`query($id: String!) { roLedger(roId: $id) { roId } }`, { id: mercy.id })).toBe('FORBIDDEN');

    expect(
      await admin.code(`mutation($id: ID!, $a: String!) { addRoMember(roId: $id, account: $a, role: DEPOSITOR) { id } }`, {
        id: valley.id,
        a: ro().address,
      }),
    ).toBe('CONFLICT');
    expect(await staff.code(`mutation($k: String!) { createRo(name: "Rogue", publicKey: $k) { id } }`, { k: roKeys.publicKey })).toBe(
      'FORBIDDEN',
    );
  });

  it('refuses posting metadata that looks like patient data, with a clear error that does not echo it', async () => {
    const depositor = await client(RO);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ bodyPart: 'Jane Doe' }, 'bodyPart', 'NAME'],
      [{ bodyPart: 'MRN 00482913' }, 'bodyPart', 'RECORD_NUMBER'],
      [{ patientState: '1961-04-12' }, 'patientState', 'DATE'],
      [{ bodyPart: 'fell off a ladder, rule out fracture' }, 'bodyPart', 'FREE_TEXT'],
      [{ maxBounty: 'ACC20240917' }, 'maxBounty', 'RECORD_NUMBER'],
    ];
    for (const [over, field, kind] of cases) {
      const r = await depositor.send(POST, { i: input(over) });
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'BAD_INPUT', field, reason: 'LOOKS_LIKE_PHI', phiKind: kind });
      expect(r.errors![0].message).toMatch(/only de-identified metadata/);
      expect(JSON.stringify(r.errors)).not.toContain(String(Object.values(over)[0]));
    }
    // unknown fields (a patient name, say) are not part of the input type at all
    expect(
      await depositor.code(`mutation { prepareStudyPosting(input: { modality: CT, bodyPart: "CHEST", difficultyBps: 10000,
      urgency: ROUTINE, patientState: "CA", maxBounty: "1", patientName: "x" }) { studyId } }`),
    ).toBe('BAD_INPUT');
    // a radiologist cannot post, and a depositor cannot relay a posting with an ID it chose itself
    expect(await (await client(READER)).code(POST, { i: input() })).toBe('FORBIDDEN');
    const mrnId = keccak256(Buffer.from('MRN 00482913'));
    const own = stack.owner.market.interface.encodeFunctionData('postStudy', [mrnId, 1, 10_000, 0, 4, USD, 2n ** 40n, '0x']);
    const signed = await signPrepared(ro(), {
      to: stack.deployment.market,
      data: own,
      chainId: stack.deployment.chainId,
      gasLimit: '300000',
    });
    expect(await depositor.code(RELAY, { tx: signed })).toBe('FORBIDDEN');
  });

  it('refuses on chain a direct postStudy with a self-chosen ID (no issuance, self-signed, or issued to another RO); the prepared posting succeeds', async () => {
    const market = stack.owner.market.connect(ro()) as Contract;
    const mrnId = keccak256(Buffer.from('MRN 00482913')); // the hazard: a PHI-derived ID
    const until = BigInt((await stack.provider.getBlock('latest'))!.timestamp + 3600);
    // the RO signs an "issuance" itself, in the issuer's exact format: not the issuer's key
    const selfSigned = issueStudyId(
      ro().privateKey,
      stack.deployment.market,
      stack.deployment.chainId,
      ro().address,
      mrnId,
      until,
    ).issuance;
    for (const issuance of ['0x', selfSigned]) {
      const err = await market.postStudy.staticCall(mrnId, 1, 10_000, 0, 4, USD, until, issuance).catch((e: unknown) => e);
      expect(decodeThrownError(err)?.name).toBe('StudyIdNotIssued');
      // mined with an explicit gas limit (no estimate to stop it first): the chain itself reverts it
      const sent = await market.postStudy(mrnId, 1, 10_000, 0, 4, USD, until, issuance, { gasLimit: 300_000 });
      expect((await waitForReceipt(stack.provider, sent.hash))?.status).toBe(0);
    }
    expect((await stack.owner.market.getStudy(mrnId)).status).toBe(0n);

    // the API's posting: a random ID with the issuer's signature for this depositor, sent directly (no relay)
    const depositor = await client(RO);
    const { prepareStudyPosting: p } = await depositor.ok(POST_ISSUED, { i: input() });
    expect(p.studyId).toMatch(/^0x[0-9a-f]{64}$/);
    expect(p.issuedUntil).toBeGreaterThan(Number(until) - 3600);
    expect(
      verifyTypedData(
        studyMarketDomain(stack.deployment.market, stack.deployment.chainId),
        STUDY_ID_ISSUANCE_TYPES,
        { studyId: p.studyId, ro: ro().address, issuedUntil: p.issuedUntil },
        p.issuance,
      ),
    ).toBe(stack.issuer.address);
    // another RO cannot use it (an issuance copied from a prepared transaction or the mempool)
    const other = stack.owner.market.connect(otherRo()) as Contract;
    const stolen = await other.postStudy.staticCall(p.studyId, 1, 10_000, 0, 4, USD, p.issuedUntil, p.issuance).catch((e: unknown) => e);
    expect(decodeThrownError(stolen)?.name).toBe('StudyIdNotIssued');
    const receipt = await waitForReceipt(
      stack.provider,
      await stack.provider.broadcastTransaction(await signPrepared(ro(), p.transaction)).then((t) => t.hash),
    );
    expect(receipt?.status).toBe(1);
    expect((await stack.owner.market.getStudy(p.studyId)).ro).toBe(ro().address);
  });

  it('valid lease → the claimant decrypts; wrong account, wrong key, expired lease → refused and logged; report sealed to the RO, hash on chain', async () => {
    const roClient = await client(RO);
    const reader = await client(READER);
    const intruder = await client(INTRUDER);
    const readerKeys = generateX25519KeyPair();
    await registerKey(stack, reader, devWallet(READER, stack.provider), readerKeys.publicKey);

    const plaintext = randomBytes(64 * 1024); // stands in for the de-identified DICOM
    const studyId = await post(roClient, plaintext);
    expect(await stack.owner.market.getStudy(studyId).then((s: { ro: string }) => s.ro)).toBe(ro().address);
    expect(studyId).toMatch(/^0x[0-9a-f]{64}$/);

    await claim(reader, 3, studyId);
    expect(await reader.code(FETCH, { id: studyId })).toBe('NOT_FOUND'); // the RO has not issued the lease yet (logged NO_LEASE)
    await issuePendingLeases(roClient, studyId);

    // valid lease: fetch, check the RO's signature and the claim against the chain, unwrap, decrypt
    const { encryptedStudy: got } = await reader.ok(FETCH, { id: studyId });
    const onChain = await stack.owner.market.getStudy(studyId);
    expect(got.lease.expiresAt).toBe(Number(onChain.leaseExpiresAt));
    expect(got.lease.signer).toBe(onChain.ro.toLowerCase());
    expect((await openFetched(stack, got, readerKeys.privateKey)).equals(plaintext)).toBe(true);
    // the claim's own copy: not the uploaded envelope, and the study key is nowhere in the lease
    expect(got.ciphertext).not.toBe(
      (await roClient.ok(`query($id: ID!) { ownStudyPayload(studyId: $id) { ciphertext } }`, { id: studyId })).ownStudyPayload.ciphertext,
    );

    // wrong key: the lease does not open with anyone else's private key
    await expect(openFetched(stack, got, generateX25519KeyPair().privateKey)).rejects.toMatchObject({ reason: 'NOT_RECIPIENT' });
    // the RO's own copy is for the RO's depositors only
    expect(await reader.code(`query($id: ID!) { ownStudyPayload(studyId: $id) { keyForRo } }`, { id: studyId })).toBe('FORBIDDEN');
    expect(await (await client(VALLEY)).code(`query($id: ID!) { ownStudyPayload(studyId: $id) { keyForRo } }`, { id: studyId })).toBe(
      'FORBIDDEN',
    );
    // wrong account: another radiologist (and an RO wallet) are refused
    expect(await intruder.code(FETCH, { id: studyId })).toBe('FORBIDDEN');
    expect(await (await client(VALLEY)).code(FETCH, { id: studyId })).toBe('FORBIDDEN');

    // the report comes back sealed to the RO key; only its keccak256 goes on chain
    const reportText = Buffer.from('CT chest: no acute cardiopulmonary abnormality.');
    // the report key comes from the RO-signed lease, not from the API
    expect(got.lease.reportKey).toBe(roKeys.publicKey);
    const sealed = sealTo(got.lease.reportKey, reportText, reportContext(studyId));
    const { submitEncryptedReport: rep } = await reader.ok(
      `mutation($id: ID!, $r: String!) { submitEncryptedReport(studyId: $id, sealedReport: $r) { reportHash transaction { to data chainId gasLimit } } }`,
      { id: studyId, r: sealed.toString('base64') },
    );
    expect(rep.reportHash).toBe(keccak256(sealed));
    await reader.ok(RELAY, { tx: await signPrepared(devWallet(READER, stack.provider), rep.transaction) });
    expect((await stack.owner.market.getStudy(studyId)).reportHash).toBe(keccak256(sealed));
    const staff = await client(MERCY_BILLING);
    const { encryptedReport } = await waitFor(
      'the report indexed',
      async () => (await staff.send(`query($id: ID!) { encryptedReport(studyId: $id) { reportHash sealedReport } }`, { id: studyId })).data,
    );
    expect(
      openSealed(roKeys.privateKey, Buffer.from(encryptedReport.sealedReport, 'base64'), reportContext(studyId)).equals(reportText),
    ).toBe(true);
    expect(await (await client(VALLEY)).code(`query($id: ID!) { encryptedReport(studyId: $id) { reportHash } }`, { id: studyId })).toBe(
      'FORBIDDEN',
    );

    // once reported the lease is over: refused
    await waitFor(
      'the report indexed for the reader',
      async () => (await reader.send(FETCH, { id: studyId })).errors?.[0].extensions?.code === 'LEASE_EXPIRED',
    );

    // a second study whose claim lapses: refused with LEASE_EXPIRED once chain time passes the claim's lease
    const lapsed = await post(roClient, randomBytes(1024));
    await claim(reader, 3, lapsed);
    await issuePendingLeases(roClient, lapsed);
    await reader.ok(FETCH, { id: lapsed });
    await increaseTime(stack.provider, 4 * 3600 + 60);
    await waitFor(
      'the chain clock to pass the lease',
      async () => (await reader.send(FETCH, { id: lapsed })).errors?.[0].extensions?.code === 'LEASE_EXPIRED',
    );

    // the RO's billing staff read the access log: every fetch and every refusal, with reasons
    const log = (
      await staff.ok(`query($id: ID!) { studyAccessLog(studyId: $id) { seq account action outcome reason hash } }`, { id: studyId })
    ).studyAccessLog;
    const seen = log.map(
      (e: { account: string; outcome: string; reason: string | null }) =>
        `${e.account === devWallet(READER, stack.provider).address.toLowerCase() ? 'reader' : e.account === devWallet(INTRUDER, stack.provider).address.toLowerCase() ? 'intruder' : e.account === devWallet(VALLEY, stack.provider).address.toLowerCase() ? 'other' : 'staff'}:${e.outcome}:${e.reason ?? ''}`,
    );
    expect(seen).toEqual(
      expect.arrayContaining([
        'reader:GRANTED:',
        'intruder:REFUSED:NOT_CLAIMANT',
        'reader:REFUSED:LEASE_EXPIRED',
        'staff:GRANTED:',
        'other:REFUSED:NOT_RO_MEMBER',
        'reader:REFUSED:NO_LEASE',
      ]),
    );
    // a caller without the radiologist role is refused but writes no log row (anyone could flood it: issue 13)
    expect(seen).not.toContain('other:REFUSED:NOT_RADIOLOGIST');
    const lapsedLog = (await staff.ok(`query($id: ID!) { studyAccessLog(studyId: $id) { outcome reason } }`, { id: lapsed }))
      .studyAccessLog;
    expect(lapsedLog.at(-1)).toEqual({ outcome: 'REFUSED', reason: 'LEASE_EXPIRED' });
    expect(await (await client(VALLEY)).code(`query($id: ID!) { studyAccessLog(studyId: $id) { seq } }`, { id: studyId })).toBe(
      'FORBIDDEN',
    );
  });

  it('an encryption key is bound to its wallet: a stolen token or a rewritten key row cannot redirect a study key', async () => {
    const roClient = await client(RO);
    const reader = await client(READER);
    const readerWallet = devWallet(READER, stack.provider);
    const intruderWallet = devWallet(INTRUDER, stack.provider);
    const domain = keyBindingDomain(stack.deployment.chainId, stack.deployment.market);
    const readerKeys = generateX25519KeyPair();
    const attackerKeys = generateX25519KeyPair();

    // a stolen session token alone cannot register a key: the binding must be the account's own signature of that key
    const refused = async (k: string, b: string) => expect(await reader.code(REGISTER_KEY, { k, b })).toBe('BAD_INPUT');
    await refused(attackerKeys.publicKey, await signKeyBinding(intruderWallet, domain, attackerKeys.publicKey)); // another wallet's
    await refused(attackerKeys.publicKey, await signKeyBinding(readerWallet, domain, readerKeys.publicKey)); // another key's
    await refused(
      attackerKeys.publicKey,
      await signKeyBinding(readerWallet, keyBindingDomain(1, stack.deployment.market), attackerKeys.publicKey),
    ); // another chain's
    await refused(attackerKeys.publicKey, '0x' + '11'.repeat(65));
    await registerKey(stack, reader, readerWallet, readerKeys.publicKey);

    const studyId = await post(roClient, randomBytes(1024));
    await claim(reader, READER, studyId);

    // whoever controls the database rewrites the claimant's key row: the RO side seals nothing to it ...
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      const reader0x = readerWallet.address.toLowerCase();
      await db.query(`UPDATE encryption_keys SET public_key = $1 WHERE account = $2`, [
        Buffer.from(attackerKeys.publicKey.slice(2), 'hex'),
        reader0x,
      ]);
      await expect(issuePendingLeases(roClient, studyId)).rejects.toThrow(UnboundKeyError);
      // ... with a valid binding signed by another wallet (the attacker's own) neither
      await db.query(`UPDATE encryption_keys SET binding = $1 WHERE account = $2`, [
        await signKeyBinding(intruderWallet, domain, attackerKeys.publicKey),
        reader0x,
      ]);
      await expect(issuePendingLeases(roClient, studyId)).rejects.toThrow(UnboundKeyError);
      // and an RO client that skips the check is refused by the API, which checks the binding too
      await expect(side().issuePendingLease(roClient, studyId, { trustApi: true })).rejects.toMatchObject({ code: 'CONFLICT' });
      // a key registered before bindings existed (no binding) is not sealed to either
      await db.query(`UPDATE encryption_keys SET binding = NULL, public_key = $1 WHERE account = $2`, [
        Buffer.from(readerKeys.publicKey.slice(2), 'hex'),
        reader0x,
      ]);
      await expect(issuePendingLeases(roClient, studyId)).rejects.toThrow(UnboundKeyError);
    } finally {
      await db.end();
    }

    // the radiologist registers again: the lease is issued to their own key, carrying the RO's signed report key
    await registerKey(stack, reader, readerWallet, readerKeys.publicKey);
    await issuePendingLeases(roClient, studyId);
    const { encryptedStudy: got } = await reader.ok(FETCH, { id: studyId });
    expect(got.lease.recipientKey).toBe(readerKeys.publicKey);
    expect(got.lease.reportKey).toBe(roKeys.publicKey);
    await openFetched(stack, got, readerKeys.privateKey);
  });

  it('the access log cannot be edited, and its hash chain is anchored on chain so a rewrite is detected', async () => {
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      const [{ n }] = (await db.query(`SELECT count(*)::int AS n FROM study_access_log`)).rows;
      expect(n).toBeGreaterThan(5);
      await expect(db.query(`UPDATE study_access_log SET outcome = 'GRANTED' WHERE outcome = 'REFUSED'`)).rejects.toThrow(/append-only/);
      await expect(db.query(`DELETE FROM study_access_log`)).rejects.toThrow(/append-only/);
      await expect(db.query(`TRUNCATE study_access_log`)).rejects.toThrow(/append-only/);
      // a forged insert cannot choose its place or hash: the trigger assigns them
      const forged = await db.query(
        `INSERT INTO study_access_log (seq, chain_id, study_id, account, action, outcome, at_ms, prev_hash, hash)
         VALUES (1, 1, $1, $2, 'FETCH_PAYLOAD', 'GRANTED', 0, $3, $3) RETURNING seq`,
        [`0x${'00'.repeat(32)}`, `0x${'00'.repeat(20)}`, Buffer.alloc(32)],
      );
      expect(Number(forged.rows[0].seq)).toBe(n + 1);

      const anchorer = stack.settler.get(AccessLogAnchorService);
      expect(await anchorer.anchorNow()).toBe(n + 1);
      const anchor = new Contract(stack.deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, stack.provider);
      const [seq, head] = await anchor.latest();
      const { rows } = await db.query(`SELECT seq, hash FROM study_access_log ORDER BY seq DESC LIMIT 1`);
      expect([Number(seq), head]).toEqual([Number(rows[0].seq), `0x${rows[0].hash.toString('hex')}`]);
      expect(await anchorer.anchorNow()).toBeNull(); // nothing new

      // a superuser can switch the trigger off and rewrite history: the audit against the anchor finds the entry
      expect((await anchorer.audit()).seq).toBe(n + 1);
      const tamper = async (seq: number) => {
        await db.query(`ALTER TABLE study_access_log DISABLE TRIGGER study_access_log_no_update`);
        await db.query(`UPDATE study_access_log SET at_ms = at_ms + 1 WHERE seq = $1`, [seq]);
        await db.query(`ALTER TABLE study_access_log ENABLE TRIGGER study_access_log_no_update`);
      };
      expect(await anchorer.auditNow()).toMatchObject({ ok: true, detail: null, failures: 0 });
      // the worker's readiness, as main.ts serves it (here on a free port)
      const health = await startSettlerHealth(stack.settler, { ...stack.config, settler: { ...stack.config.settler, healthPort: 0 } });
      const ready = async () => {
        const r = await fetch(`${health.url}/ready`);
        return { status: r.status, body: (await r.json()) as { checks: Record<string, { ok: boolean; error?: string }> } };
      };
      try {
        expect((await ready()).body.checks.accessLogAudit).toMatchObject({ ok: true });
        await tamper(2);
        await expect(anchorer.audit()).rejects.toThrow(/breaks at seq 2/);
        // the worker's scheduled audit raises the alert: status for health, a counter for metrics
        expect(await anchorer.auditNow()).toMatchObject({ ok: false, detail: expect.stringMatching(/breaks at seq 2/), failures: 1 });
        expect(anchorer.auditStatus()).toMatchObject({ ok: false, failures: 1 });
        const alert = await ready();
        expect(alert.status).toBe(503);
        expect(alert.body.checks.accessLogAudit).toMatchObject({
          ok: false,
          error: expect.stringMatching(/no longer matches its anchors/),
        });
      } finally {
        await health.close();
      }
      // and an entry rewritten after the last anchor is never anchored over
      await db.query(
        `INSERT INTO study_access_log (seq, chain_id, study_id, account, action, outcome, reason, at_ms, prev_hash, hash)
        VALUES (0, 1, $1, $2, 'FETCH_PAYLOAD', 'REFUSED', 'LEASE_EXPIRED', 0, '', '')`,
        [`0x${'00'.repeat(32)}`, `0x${'00'.repeat(20)}`],
      );
      await tamper(n + 2);
      await expect(anchorer.anchorNow()).rejects.toThrow(new RegExp(`breaks at seq ${n + 2}`));
      expect(Number((await anchor.latest())[0])).toBe(n + 1);
    } finally {
      await db.end();
    }
  });
});
