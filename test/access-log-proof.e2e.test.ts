import { mined, loadArtifact } from '#chain';
import { DEV_ROLES } from '#devchain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { type AccessLogProofItem, generateX25519KeyPair, verifyAccessLogProof } from '#lease';
import { AccessLogAnchorService } from '#settler';
import { Contract } from 'ethers';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GqlClient } from './support/client.js';
import { FETCH, RoSide, USD, createRo } from './support/ro-flow.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

/** Who is who in this file (dev account numbers, from DEV_ROLES). */
const MERCY = DEV_ROLES.roDepositor; // Mercy Imaging's depositor
const MERCY_BILLING = DEV_ROLES.roBilling[0];
const VALLEY = DEV_ROLES.spare[0]; // Valley Radiology's depositor and billing
const READER_A = DEV_ROLES.radiologists[0]; // tries to fetch Mercy's study A
const READER_B = DEV_ROLES.radiologists[1]; // tries to fetch Valley's study B
const ADMIN = DEV_ROLES.deployer;

const PROOF = `query($id: ID!) { accessLogProof(studyId: $id) {
  entry { seq chainId studyId account action outcome reason atMs salt } leaf proof pending
  anchor { seq fromSeq root head blockNumber txHash } } }`;

interface ProofItem {
  entry: AccessLogProofItem['entry'];
  leaf: string;
  proof: string[];
  pending: boolean;
  anchor: { seq: number; fromSeq: number; root: string; head: string; blockNumber: number; txHash: string } | null;
}
const asItems = (items: ProofItem[]): AccessLogProofItem[] =>
  items.map((i) => ({ entry: i.entry, proof: i.proof, anchorSeq: i.anchor?.seq ?? null }));

/**
 * Issue 13, item 7: an RO checks its study's access-log entries against the chain itself (inclusion proofs against the
 * Merkle root AccessLogAnchor records with each anchor), a proof reveals no other study's entries, and the apps of
 * the stack run as a database role that cannot switch off the log's append-only trigger.
 */
describe('access log anchors and inclusion proofs', () => {
  let stack: Stack;
  let anchorer: AccessLogAnchorService;
  let anchor: Contract;
  let owner: pg.Client;
  let studyA: string;
  let studyB: string;
  const mercyKeys = generateX25519KeyPair();
  const valleyKeys = generateX25519KeyPair();

  const client = async (i: number) => {
    const c = new GqlClient(stack.api);
    await c.signIn(devWallet(i, stack.provider));
    return c;
  };
  const proofOf = async (c: GqlClient, studyId: string) => (await c.ok(PROOF, { id: studyId })).accessLogProof as ProofItem[];
  const verify = (items: ProofItem[]) => verifyAccessLogProof(stack.provider, stack.deployment.accessLogAnchor, asItems(items));
  /** rewrites one entry as the tables' owner can: the append-only trigger off for one statement */
  const rewrite = async (seq: number, set: string, values: unknown[] = []) => {
    await owner.query(`ALTER TABLE study_access_log DISABLE TRIGGER study_access_log_no_update`);
    try {
      await owner.query(`UPDATE study_access_log SET ${set} WHERE seq = $1`, [seq, ...values]);
    } finally {
      await owner.query(`ALTER TABLE study_access_log ENABLE TRIGGER study_access_log_no_update`);
    }
  };

  beforeAll(async () => {
    stack = await startStack();
    const { owner: contracts, provider } = stack;
    anchorer = stack.settler.get(AccessLogAnchorService);
    anchor = new Contract(stack.deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, provider);
    owner = new pg.Client({ connectionString: stack.db.url });
    await owner.connect();
    for (const i of [MERCY, VALLEY]) {
      const w = devWallet(i, provider);
      const market = contracts.market.connect(w) as typeof contracts.market;
      await mined(contracts.token.mint(w.address, 1_000n * USD));
      await mined((contracts.token.connect(w) as typeof contracts.token).approve(await market.getAddress(), 1_000n * USD));
      await mined(market.deposit(1_000n * USD));
    }
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    for (const i of [READER_A, READER_B])
      await mined(
        contracts.registry.attest(devWallet(i, provider).address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry),
      );
    const admin = await client(ADMIN);
    const [mercy, valley] = [devWallet(MERCY, provider), devWallet(VALLEY, provider)];
    await createRo(admin, {
      name: 'Mercy Imaging',
      publicKey: mercyKeys.publicKey,
      billing: [devWallet(MERCY_BILLING, provider).address],
      depositors: [mercy.address],
    });
    await createRo(admin, {
      name: 'Valley Radiology',
      publicKey: valleyKeys.publicKey,
      billing: [valley.address],
      depositors: [valley.address],
    });
    studyA = await new RoSide(stack, mercy, mercyKeys).post(await client(MERCY), Buffer.from('study A'));
    studyB = await new RoSide(stack, valley, valleyKeys).post(await client(VALLEY), Buffer.from('study B'));
    const [readerA, readerB] = [await client(READER_A), await client(READER_B)];
    for (const id of [studyA, studyB])
      await waitFor(
        'the posting indexed',
        async () => (await readerA.send(`query($id: ID!) { study(id: $id) { id } }`, { id })).data?.study,
      );
    // interleaved, so one anchor holds entries of both studies: A, B, A (each refused: neither reader holds a claim)
    expect(await readerA.code(FETCH, { id: studyA })).toBe('FORBIDDEN');
    expect(await readerB.code(FETCH, { id: studyB })).toBe('FORBIDDEN');
    expect(await readerA.code(FETCH, { id: studyA })).toBe('FORBIDDEN');
    expect(await anchorer.anchorNow()).toBe(3);
  }, 120_000);
  afterAll(async () => {
    await owner?.end();
    await stack?.stop();
  });

  it("an RO's members get their study's entries with proofs that verify against the root on chain; others are FORBIDDEN", async () => {
    const billing = await client(MERCY_BILLING);
    const items = await proofOf(billing, studyA);
    expect(items.map((i) => [i.entry.seq, i.entry.studyId, i.entry.outcome, i.entry.reason, i.pending])).toEqual([
      [1, studyA, 'REFUSED', 'NOT_CLAIMANT', false],
      [3, studyA, 'REFUSED', 'NOT_CLAIMANT', false],
    ]);
    // the anchor the API names is the one on chain
    const anchorNow = items[0].anchor!;
    expect(anchorNow).toMatchObject({ seq: 3, fromSeq: 1 });
    expect(await anchor.rootOf(3)).toBe(anchorNow.root);
    const receipt = await stack.provider.getTransactionReceipt(anchorNow.txHash);
    expect(receipt?.blockNumber).toBe(anchorNow.blockNumber);
    expect((await billing.ok(`{ accessLogAnchors { seq fromSeq root head blockNumber txHash } }`)).accessLogAnchors).toEqual([anchorNow]);

    // the RO's own check: leaves recomputed from the entries, roots read from the chain
    expect(await verify(items)).toEqual([
      { ok: true, seq: 1, root: anchorNow.root },
      { ok: true, seq: 3, root: anchorNow.root },
    ]);
    // and OpenZeppelin's MerkleProof (the contract's `includes`) agrees
    for (const i of items) expect(await anchor.includes(3, i.leaf, i.proof)).toBe(true);
    // a made-up proof or another anchor does not verify
    expect((await verify([{ ...items[0], proof: items[1].proof }]))[0]).toMatchObject({ ok: false, reason: 'PROOF_MISMATCH' });
    expect((await verify([{ ...items[0], anchor: { ...anchorNow, seq: 2 } }]))[0]).toMatchObject({ ok: false, reason: 'NO_SUCH_ANCHOR' });

    // Mercy's depositor may as well; Valley's staff, a radiologist and a stranger may not
    expect((await proofOf(await client(MERCY), studyA)).length).toBe(2);
    expect(await (await client(VALLEY)).code(PROOF, { id: studyA })).toBe('FORBIDDEN');
    expect(await (await client(READER_A)).code(PROOF, { id: studyA })).toBe('FORBIDDEN');
    expect(await (await client(READER_A)).code(`{ accessLogAnchors { seq } }`)).toBe('FORBIDDEN');
    expect(await new GqlClient(stack.api).code(PROOF, { id: studyA })).toBe('UNAUTHENTICATED');
  });

  it("the proof for study A reveals nothing of study B's entries", async () => {
    const items = await proofOf(await client(MERCY_BILLING), studyA);
    const response = JSON.stringify(items).toLowerCase();
    const { rows } = await owner.query(`SELECT study_id, account, salt, hash, prev_hash FROM study_access_log WHERE study_id = $1`, [
      studyB,
    ]);
    expect(rows.length).toBe(1);
    const b = rows[0];
    expect(b.account).toBe(devWallet(READER_B, stack.provider).address.toLowerCase());
    for (const secret of [b.study_id, b.account, b.salt.toString('hex'), b.hash.toString('hex')])
      expect(response).not.toContain(secret.replace(/^0x/, ''));
    // its entries are A's alone; besides them it holds only 32-byte hashes (leaves and siblings: salted, so B's leaf,
    // if it is a sibling, cannot be tested against a guessed study ID or account)
    expect(new Set(items.map((i) => i.entry.studyId))).toEqual(new Set([studyA]));
    expect(new Set(items.map((i) => i.entry.account))).toEqual(new Set([devWallet(READER_A, stack.provider).address.toLowerCase()]));
    for (const i of items) for (const h of [i.leaf, ...i.proof]) expect(h).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('an entry after the latest anchor is pending until the next anchor', async () => {
    expect(await (await client(READER_A)).code(FETCH, { id: studyA })).toBe('FORBIDDEN');
    const billing = await client(MERCY_BILLING);
    const before = await proofOf(billing, studyA);
    expect(before.map((i) => [i.entry.seq, i.pending, i.anchor?.seq ?? null, i.proof.length > 0])).toEqual([
      [1, false, 3, true],
      [3, false, 3, true],
      [4, true, null, false],
    ]);
    expect((await verify(before)).map((v) => (v.ok ? 'ok' : v.reason))).toEqual(['ok', 'ok', 'PENDING']);
    expect(await anchorer.anchorNow()).toBe(4);
    const after = await proofOf(billing, studyA);
    expect(after[2]).toMatchObject({ pending: false, anchor: { seq: 4, fromSeq: 4 } });
    expect((await verify(after)).map((v) => v.ok)).toEqual([true, true, true]);
  });

  it("a lost copy of the anchors is copied again from the chain's events", async () => {
    const billing = await client(MERCY_BILLING);
    const ANCHORS = `{ accessLogAnchors { seq fromSeq root head blockNumber txHash } }`;
    const before = (await billing.ok(ANCHORS)).accessLogAnchors;
    expect(before.map((a: { seq: number }) => a.seq)).toEqual([3, 4]);
    // (as after a restart between a mined anchor and its copy, or a restore without the table)
    await owner.query(`DELETE FROM access_log_anchors`);
    expect((await billing.ok(ANCHORS)).accessLogAnchors).toEqual([]);
    expect(await anchorer.syncAnchors()).toBe(2);
    expect((await billing.ok(ANCHORS)).accessLogAnchors).toEqual(before);
    expect((await verify(await proofOf(billing, studyA))).every((v) => v.ok)).toBe(true);
  });

  it("a row rewritten in Postgres by the tables' owner makes its proof fail, and the audit finds it", async () => {
    const billing = await client(MERCY_BILLING);
    expect((await anchorer.audit()).seq).toBe(4);
    const { rows } = await owner.query(`SELECT reason, salt FROM study_access_log WHERE seq = 1`);
    const original = rows[0] as { reason: string; salt: Buffer };

    // the content: the hash chain breaks, and the proof no longer leads to the root on chain
    await rewrite(1, `reason = 'NO_LEASE'`);
    const rewritten = await proofOf(billing, studyA);
    expect(rewritten[0].entry.reason).toBe('NO_LEASE');
    expect((await verify(rewritten)).map((v) => (v.ok ? 'ok' : v.reason))).toEqual([
      'PROOF_MISMATCH',
      // entry 3 shares the anchor: its path passes through the rewritten leaf
      'PROOF_MISMATCH',
      'ok',
    ]);
    await expect(anchorer.audit()).rejects.toThrow(/breaks at seq 1/);

    // the salt alone (the hash chain does not cover it): the Merkle root still catches it
    await rewrite(1, `reason = $2`, [original.reason]);
    expect((await anchorer.audit()).seq).toBe(4);
    await rewrite(1, `salt = $2`, [Buffer.alloc(32, 7)]);
    expect((await verify(await proofOf(billing, studyA)))[0]).toMatchObject({ ok: false, reason: 'PROOF_MISMATCH' });
    await expect(anchorer.audit()).rejects.toThrow(/entries 1\.\.3 do not match their anchored Merkle root/);
    expect(await anchorer.auditNow()).toMatchObject({ ok: false, detail: expect.stringMatching(/Merkle root/) });

    await rewrite(1, `salt = $2`, [original.salt]);
    expect((await verify(await proofOf(billing, studyA))).every((v) => v.ok)).toBe(true);
    expect(await anchorer.auditNow()).toMatchObject({ ok: true });
  });

  it("the stack's apps connect as a login role granted openread_app, which cannot switch off the trigger or rewrite the log", async () => {
    for (const app of [stack.api, stack.settler, stack.indexer]) {
      const [who] = await app.get(DataSource).query(
        `SELECT current_user AS name, r.rolsuper AS superuser, pg_has_role(current_user, 'openread_app', 'member') AS member
           FROM pg_roles r WHERE r.rolname = current_user`,
      );
      expect(who).toEqual({ name: new URL(stack.config.databaseUrl).username, superuser: false, member: true });
    }
    const app = new pg.Client({ connectionString: stack.config.databaseUrl });
    await app.connect();
    try {
      await expect(app.query(`ALTER TABLE study_access_log DISABLE TRIGGER study_access_log_no_update`)).rejects.toThrow(
        /must be (the )?owner/,
      );
      await expect(app.query(`ALTER TABLE study_access_log DISABLE TRIGGER ALL`)).rejects.toThrow(/must be (the )?owner/);
      await expect(app.query(`UPDATE study_access_log SET reason = 'NO_LEASE' WHERE seq = 1`)).rejects.toThrow(/permission denied/);
      await expect(app.query(`SET session_replication_role = replica`)).rejects.toThrow(/permission denied/);
      // what it may do: read and append
      expect((await app.query(`SELECT count(*)::int AS n FROM study_access_log`)).rows[0].n).toBe(4);
    } finally {
      await app.end();
    }
  });
});
