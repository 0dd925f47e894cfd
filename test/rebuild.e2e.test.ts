import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NestFactory } from '@nestjs/core';
import { Contract, TypedDataEncoder, keccak256, toUtf8Bytes } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORWARD_REQUEST_TYPES, mined } from '#chain';
import { AppConfig } from '#config';
import { DEV_ROLES } from '#devchain';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { generateX25519KeyPair } from '#lease';
import { createApiApp } from '#api';
import { IndexerModule } from '#indexer';
import { GqlClient } from './support/client.js';
import { ctRadiologist, fundRo, postCtStudy } from './support/funding.js';
import { Activity, Chain, ROS, Row, USD, catchUp, divergences, snapshot } from './support/indexing.js';
import { FETCH, RoSide, claimThroughApi, registerKey } from './support/ro-flow.js';
import { Stack, devWallet, startSettler, startStack, waitFor } from './support/stack.js';

const READER = DEV_ROLES.radiologists[0];
const run = promisify(execFile);
const DOC = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');

/** The backup command as docs/operations.md writes it: the tables whose data it leaves out are the derived ones. */
function documentedDump(): { args: string[]; derived: string[] } {
  const block = [...DOC.matchAll(/```bash norun\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith('pg_dump'));
  if (!block) throw new Error('docs/operations.md: no pg_dump block');
  const words = block.replace(/\\\n/g, ' ').trim().split(/\s+/);
  expect(words[0]).toBe('pg_dump');
  expect(words.at(-1)).toBe('"$DATABASE_URL"');
  const args = words.slice(1, -1);
  const derived = args.filter((a) => a.startsWith('--exclude-table-data=')).map((a) => a.slice('--exclude-table-data='.length));
  return { args, derived };
}

/** Every row of a table as JSON, in a canonical order (no column needs to be known). */
async function rowsOf(c: pg.Client, table: string): Promise<Row[]> {
  return (await c.query(`SELECT to_jsonb(t) AS r FROM ${table} t ORDER BY to_jsonb(t)::text`)).rows.map((x) => x.r);
}

async function queryAll(url: string, text: string): Promise<Row[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

async function tables(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
    return r.rows.map((x) => x.tablename);
  } finally {
    await c.end();
  }
}

/** The tables the backup keeps, row for row (every column). */
async function keptRows(url: string, kept: string[]): Promise<Record<string, Row[]>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, Row[]> = {};
    for (const t of kept) out[t] = await rowsOf(c, t);
    return out;
  } finally {
    await c.end();
  }
}

/** A new, empty database on the test server (what `createdb` makes), dropped afterwards. */
async function emptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `openread_restore_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

describe('backup and rebuild (docs/operations.md)', () => {
  let stack: Stack;
  let chain: Chain;
  const dir = mkdtempSync(join(tmpdir(), 'openread-backup-'));
  const dropLater: { drop(): Promise<void> }[] = [];
  /** the indexer as the stack ran it, on another database */
  const configFor = (databaseUrl: string): AppConfig => ({ ...stack.config, databaseUrl });

  beforeAll(async () => {
    stack = await startStack();
    const { owner, provider } = stack;
    chain = {
      anvil: stack.anvil,
      provider,
      deployment: stack.deployment,
      owner,
      rpc: (method, params = []) => provider.send(method, params),
      head: async () => provider.getBlockNumber(),
      stop: async () => undefined,
    };
    // state only Postgres holds, written through the API: an RO and its members, a registered key, sessions, the
    // transaction outbox (posting and claim relayed), the study vault (payload, lease) and the access log
    const client = async (i: number) => {
      const c = new GqlClient(stack.api);
      await c.signIn(devWallet(i, provider));
      return c;
    };
    // the ROs funded as the indexer tests fund them
    for (const i of ROS) {
      const w = devWallet(i, provider);
      await mined(owner.token.mint(w.address, 1_000_000n * USD));
      await mined((owner.token.connect(w) as Contract).approve(stack.deployment.market, 2n ** 255n));
    }
    const ro = devWallet(DEV_ROLES.roDepositor, provider);
    await mined((owner.market.connect(ro) as Contract).deposit(1_000n * USD));
    const expiry = (await provider.getBlock('latest'))!.timestamp + 365 * 86400;
    await mined(
      owner.registry.attest(devWallet(READER, provider).address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry),
    );
    const roKeys = generateX25519KeyPair();
    const admin = await client(DEV_ROLES.deployer);
    await admin.ok(
      `mutation($n: String!, $k: String!, $b: [String!]!, $d: [String!]!) { createRo(name: $n, publicKey: $k, billing: $b, depositors: $d) { id } }`,
      { n: 'Backup Imaging', k: roKeys.publicKey, b: [ro.address], d: [ro.address] },
    );
    const roClient = await client(DEV_ROLES.roDepositor);
    const reader = await client(READER);
    await registerKey(stack, reader, devWallet(READER, provider), generateX25519KeyPair().publicKey);
    const side = new RoSide(stack, ro, roKeys);
    const studyId = await side.post(roClient, randomBytes(4096));
    await claimThroughApi(stack, reader, READER, studyId);
    await side.issuePendingLease(roClient, studyId);
    await reader.ok(FETCH, { id: studyId });
    expect(await (await client(DEV_ROLES.radiologists[1])).code(FETCH, { id: studyId })).toBe('FORBIDDEN');
    // the report relayed gasless: a row of the transaction outbox, sent by the worker
    const { prepared } = await reader.ok(
      `mutation($id: ID!, $h: String!) { prepared: prepareGaslessReport(studyId: $id, reportHash: $h) { request { from to value gas nonce deadline data } domain { name version chainId verifyingContract } } }`,
      { id: studyId, h: keccak256(toUtf8Bytes('sealed report')) },
    );
    const signature = await devWallet(READER, provider).signTypedData(prepared.domain, FORWARD_REQUEST_TYPES, prepared.request);
    const relayed = await reader.ok(
      `mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash function } }`,
      { r: prepared.request, s: signature },
    );
    expect(relayed.relayGasless.function).toBe('submitReport');

    // then chain activity of every kind, with the worker stopped (the activity settles with the worker's key); the
    // indexer stops once it has caught up, so the backup and the comparisons see one state
    await stack.api.close();
    await stack.settler.close();
    await new Activity(chain, 22, { governanceAndRoles: true }).run(40);
    const head = await chain.head();
    await waitFor('the indexer at the head', async () => {
      const [r] = await queryAll(stack.db.url, `SELECT block_number FROM indexer_checkpoints ORDER BY block_number LIMIT 1`);
      return r && Number(r.block_number) >= head;
    });
    await stack.indexer.close();
  });

  afterAll(async () => {
    for (const d of dropLater) await d.drop();
    stack?.provider.destroy();
    await stack?.anvil.stop();
    await stack?.db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the documented dump leaves out exactly the derived tables, and a restore plus a re-index gives every row back', async () => {
    const { args, derived } = documentedDump();
    const all = await tables(stack.db.url);
    for (const t of derived) expect(all, `docs/operations.md names a table the schema does not have: ${t}`).toContain(t);
    // every table is either derived (re-indexed) or kept: a new table must be classified in the docs
    const kept = all.filter((t) => !derived.includes(t));
    for (const t of kept) expect(DOC, `docs/operations.md does not say where ${t} comes from`).toContain(`\`${t}\``);

    const original = await snapshot(stack.db.url);
    const originalKept = await keptRows(stack.db.url, kept);
    expect(original.chain_events.length).toBeGreaterThan(50);
    for (const t of [
      'radiology_orgs',
      'ro_members',
      'encryption_keys',
      'sessions',
      'relay_requests',
      'study_postings',
      'study_payloads',
      'study_leases',
      'study_access_log',
    ])
      expect(originalKept[t].length, `rows in ${t}`).toBeGreaterThan(0);

    const file = join(dir, 'openread.dump');
    await run('pg_dump', [...args.map((a) => (a === '--file=openread.dump' ? `--file=${file}` : a)), stack.db.url]);

    // restore into a new, empty database, then let the indexer find the chain again
    const restored = await emptyDatabase();
    dropLater.push(restored);
    await run('pg_restore', [`--dbname=${restored.url}`, '--single-transaction', '--no-owner', file]);
    const empty = await keptRows(restored.url, derived);
    for (const t of derived) expect(empty[t], `${t} was backed up`).toEqual([]);
    await catchUp(configFor(restored.url));
    expect(divergences(await snapshot(restored.url), original)).toEqual([]);
    expect(await keptRows(restored.url, kept)).toEqual(originalKept);
  });

  it('truncating the derived tables and re-indexing in place gives the same rows', async () => {
    const { derived } = documentedDump();
    const all = await tables(stack.db.url);
    const kept = all.filter((t) => !derived.includes(t));
    const original = await snapshot(stack.db.url);
    const originalKept = await keptRows(stack.db.url, kept);
    const indexedBlocks = (await keptRows(stack.db.url, ['indexed_blocks'])).indexed_blocks;

    await queryAll(stack.db.url, `TRUNCATE ${derived.join(', ')} RESTART IDENTITY`);
    expect((await snapshot(stack.db.url)).chain_events).toEqual([]);
    await catchUp(configFor(stack.db.url));
    expect(divergences(await snapshot(stack.db.url), original)).toEqual([]);
    expect((await keptRows(stack.db.url, ['indexed_blocks'])).indexed_blocks).toEqual(indexedBlocks);
    expect(await keptRows(stack.db.url, kept)).toEqual(originalKept);
  });
});

/**
 * A restore of a backup taken before the last sends: the outbox is older than the chain. A request queued at the
 * backup and sent after it, one in flight at the backup, one queued and mined after it (its row lost) and one queued
 * after it and never sent (lost too): after the restore nothing is sent twice, and every signed request's signer
 * learns its outcome (the restored rows settle from the chain; a lost row's signer sends the same signed request
 * again).
 */
describe('a backup older than the chain, restored', () => {
  let stack: Stack;
  const dir = mkdtempSync(join(tmpdir(), 'openread-old-backup-'));
  const dropLater: { drop(): Promise<void> }[] = [];
  const CLAIM = `mutation($id: ID!) { prepared: prepareGaslessClaim(studyId: $id) { request { from to value gas nonce deadline data } domain { name version chainId verifyingContract } } }`;
  const RELAY = `mutation($r: ForwardRequestInput!, $s: String!) { relayGasless(request: $r, signature: $s) { txHash function } }`;

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop(); // the apps running on the restored database
    for (const d of dropLater) await d.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends nothing twice and loses no signed request', async () => {
    const { provider } = stack;
    const relayer = devWallet(DEV_ROLES.relayer, provider).address;
    await fundRo(stack, devWallet(DEV_ROLES.roDepositor, provider), 1_000n * USD);
    const studies: string[] = [];
    const rads: Awaited<ReturnType<typeof ctRadiologist>>[] = [];
    for (let i = 0; i < 4; i++) {
      studies.push(await postCtStudy(stack));
      rads.push(await ctRadiologist(stack));
    }
    const [a, b, c, d] = [0, 1, 2, 3];
    const sign = async (i: number) => {
      const { prepared } = await rads[i].client.ok(CLAIM, { id: studies[i] });
      const signature = await rads[i].wallet.signTypedData(prepared.domain, FORWARD_REQUEST_TYPES, prepared.request);
      const hash = TypedDataEncoder.hash(prepared.domain, FORWARD_REQUEST_TYPES, prepared.request).toLowerCase();
      return { vars: { r: prepared.request, s: signature }, hash };
    };
    const signed = await Promise.all([a, b, c, d].map(sign));
    const row = async (url: string, i: number) =>
      (await queryAll(url, `SELECT status, tx_hash, relayer, cost_wei FROM relay_requests WHERE request_hash = '${signed[i].hash}'`))[0];

    // at the backup: B in flight (sent, not mined), A queued (the worker stopped before it could send it)
    await provider.send('evm_setAutomine', [false]);
    const answerB = rads[b].client.send(RELAY, signed[b].vars);
    await waitFor('B sent', async () => (await row(stack.db.url, b))?.status === 'SENT');
    await stack.settler.close();
    const answerA = rads[a].client.send(RELAY, signed[a].vars);
    await waitFor('A queued', async () => (await row(stack.db.url, a))?.status === 'QUEUED');
    const file = join(dir, 'openread.dump');
    const { args } = documentedDump();
    await run('pg_dump', [...args.map((x) => (x === '--file=openread.dump' ? `--file=${file}` : x)), stack.db.url]);

    // after it: A sent and both mined; C queued and mined; D queued, and the disaster before it is sent
    stack.settler = await startSettler(stack.config);
    await waitFor('A sent', async () => (await row(stack.db.url, a))?.status === 'SENT');
    await provider.send('evm_mine', []);
    await provider.send('evm_setAutomine', [true]);
    const [minedA, minedB] = (await Promise.all([answerA, answerB])).map((r) => r.data?.relayGasless.txHash as string);
    expect(minedA).toMatch(/^0x/);
    expect(minedB).toMatch(/^0x/);
    const minedC = (await rads[c].client.ok(RELAY, signed[c].vars)).relayGasless.txHash as string;
    await stack.settler.close();
    const answerD = rads[d].client.send(RELAY, signed[d].vars).catch(() => null); // cut off by the disaster
    await waitFor('D queued', async () => (await row(stack.db.url, d))?.status === 'QUEUED');
    const sentBefore = await provider.getTransactionCount(relayer);
    await stack.api.close();
    await answerD;
    await stack.indexer.close();

    // the backup restored into a new database, the apps started on it
    const restored = await emptyDatabase();
    dropLater.push(restored);
    await run('pg_restore', [`--dbname=${restored.url}`, '--single-transaction', '--no-owner', file]);
    const config = { ...stack.config, databaseUrl: restored.url };
    stack.settler = await startSettler(config);
    stack.indexer = await NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger: ['error', 'warn'] });
    await stack.indexer.init();
    stack.api = await createApiApp(config);
    await stack.api.init();
    await stack.api.listen(0, '127.0.0.1');
    // (the sessions were in the backup)
    const clients = rads.map((r) => Object.assign(new GqlClient(stack.api), { token: r.client.token }));

    // the restored rows settle from the chain, with the transactions already mined: A queued, B in flight
    const final = (i: number) =>
      waitFor(`row ${i} final`, async () => ((await row(restored.url, i))?.status === 'MINED' ? row(restored.url, i) : null));
    const [rowA, rowB] = [await final(a), await final(b)];
    expect(rowA).toMatchObject({ status: 'MINED', tx_hash: minedA, relayer: relayer.toLowerCase() });
    expect(BigInt(rowA.cost_wei as string)).toBeGreaterThan(0n); // the relayer's own transaction, charged as usual
    expect(rowB).toMatchObject({ status: 'MINED', tx_hash: minedB });
    // (roles come from the index: the API answers the signers once it has caught up, as after any restore)
    const head = await provider.getBlockNumber();
    await waitFor('the restored index at the head', async () => {
      const [r] = await queryAll(restored.url, `SELECT block_number FROM indexer_checkpoints ORDER BY block_number LIMIT 1`);
      return r && Number(r.block_number) >= head;
    });
    // C's row was lost: the same signed request again answers the transaction that executed it, and so does its hash
    expect((await clients[c].ok(RELAY, signed[c].vars)).relayGasless.txHash).toBe(minedC);
    expect(
      (await clients[c].ok(`query($h: String!) { gaslessRequest(hash: $h) { status txHash } }`, { h: signed[c].hash })).gaslessRequest,
    ).toEqual({ status: 'MINED', txHash: minedC });
    expect(await row(restored.url, c)).toMatchObject({ status: 'MINED', tx_hash: minedC, relayer: relayer.toLowerCase() });
    // D's row was lost before it was sent: sent now, once
    const minedD = (await clients[d].ok(RELAY, signed[d].vars)).relayGasless.txHash as string;
    for (const i of [a, b, c, d]) expect((await stack.owner.market.getStudy(studies[i])).radiologist).toBe(rads[i].wallet.address);

    // nothing sent twice: the relayer's one transaction since the disaster is D's, with the next nonce
    expect(await provider.getTransactionCount(relayer)).toBe(sentBefore + 1);
    expect((await provider.getTransaction(minedD))!.nonce).toBe(sentBefore);
  });
});
