/**
 * The RO agent as its own app (apps/ro-agent, compiled, a process of its own) on the whole stack: the oRO's agent
 * reads its keys from a 0600 key file and its studies from a holdings directory; an nRO requests a lease through
 * the API and the agent grants it by itself; the nRO opens the package byte-identical with openLease. After expiry
 * (chain time) the nRO's fetch is refused LEASE_EXPIRED and the agent records the expired use on chain
 * (ExpiredUseRecorded of the lease and the nRO's account), exactly once, also after the agent is restarted with
 * SIGTERM and the nRO tries again. An agent whose key file's signer RoDirectory does not list is not ready, and a
 * key file others can read stops the agent at start (exit 2).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Contract, Wallet, keccak256, toBeHex, toUtf8Bytes, zeroPadValue } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact, mined } from '#chain';
import { DEV_ROLES, contractsEnv, devKey, freePort, increaseTime } from '#devchain';
import { encryptPayload, generateStudyKey, generateX25519KeyPair, openLease, roKeyContext, sealTo } from '#lease';
import { AppProcess, lastWords, spawnApp, stopApps } from './support/app-processes.js';
import { signPrepared } from './support/client.js';
import { RELAY } from './support/ro-flow.js';
import {
  LEASED,
  LEASES,
  PREPARE_REQUEST,
  admissionDirectory,
  createExchangeRos,
  fundExchange,
  keyAdded,
  leasedPackage,
  signedInClients,
  type Leased,
} from './support/exchange.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const PERIOD = 300; // StudyCustody's shortest lease
const ORO = DEV_ROLES.roDepositor; // the custodian RO's principal; its agent sends from this account
const NRO = DEV_ROLES.spare[1]; // the requesting RO
const ADMIN = DEV_ROLES.deployer;

/** how long the agent's own passes may take on a loaded machine (a bound, not an expectation) */
const AGENT_MS = 60_000;

/** The value of one series of a Prometheus text page (0 when absent). */
const series = (page: string, name: string) =>
  Number(
    page
      .split('\n')
      .find((l) => l.startsWith(name + ' '))
      ?.split(' ')[1] ?? 0,
  );

describe('the RO agent app: grants by itself, records expired use on chain once, readiness, key file', () => {
  let stack: Stack;
  const dir = mkdtempSync(join(tmpdir(), 'openread-ro-agent-'));
  const holdings = join(dir, 'holdings');
  const apps: AppProcess[] = [];
  const ids = { oro: '', nro: '' };
  const oEnc = generateX25519KeyPair(); // the oRO's X25519 key: its study keys are sealed to it
  const oSigner = Wallet.createRandom(); // the oRO's registered grant signer
  const nEnc = generateX25519KeyPair();
  let oKeyId: bigint;
  let nKeyId: bigint;
  let study: string;
  const plaintext = randomBytes(40_000);
  let leaseId: string;
  let running: { app: AppProcess; url: string };
  const w = (i: number) => devWallet(i, stack.provider);
  const client = signedInClients(() => stack);

  const keyFile = (name: string, keys: { encryption: string; signer: string; sender: string }, mode = 0o600) => {
    const path = join(dir, name);
    writeFileSync(
      path,
      JSON.stringify({ encryptionPrivateKey: keys.encryption, signerPrivateKey: keys.signer, senderPrivateKey: keys.sender }),
    );
    chmodSync(path, mode);
    return path;
  };
  /** the compiled agent with its own port; resolves with its URL once it answers /health */
  const startAgent = async (file: string, extra: Record<string, string> = {}): Promise<{ app: AppProcess; url: string }> => {
    const port = await freePort();
    const app = spawnApp('ro-agent', {
      PATH: process.env.PATH,
      DATABASE_URL: stack.config.databaseUrl,
      RPC_URL: stack.anvil.rpcUrl,
      ...contractsEnv(stack.deployment),
      RO_AGENT_KEY_FILE: file,
      RO_AGENT_HOLDINGS_DIR: holdings,
      RO_AGENT_RO: w(ORO).address,
      RO_AGENT_SIGNER_KEY_ID: oKeyId.toString(),
      RO_AGENT_POLL_MS: '200',
      RO_AGENT_PORT: String(port),
      ...extra,
    });
    apps.push(app);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      `the agent to answer /health\n${lastWords([app])}`,
      async () => {
        if (app.child.exitCode !== null) throw new Error(`the agent exited\n${lastWords([app])}`);
        return (await fetch(`${url}/health`).catch(() => null))?.ok;
      },
      120_000,
    ); // a loaded machine may take a while to start a Nest app
    return { app, url };
  };
  const ready = async (url: string) => (await fetch(`${url}/ready`)).status;
  const expiredUses = async (lease: string, account: string) =>
    stack.provider.getLogs({
      address: stack.deployment.studyCustody,
      topics: [
        new Contract(stack.deployment.studyCustody, loadArtifact('StudyCustody').abi).interface.getEvent('ExpiredUseRecorded')!.topicHash,
        zeroPadValue(toBeHex(BigInt(lease)), 32),
        zeroPadValue(account, 32),
      ],
      fromBlock: 0,
    });
  const goodKeys = () => keyFile('agent.json', { encryption: oEnc.privateKey, signer: oSigner.privateKey, sender: devKey(ORO).privateKey });

  beforeAll(async () => {
    stack = await startStack();
    const admin = await client(ADMIN);
    Object.assign(
      ids,
      await createExchangeRos(admin, {
        oro: { name: 'Home Imaging', account: w(ORO).address },
        nro: { name: 'Far ER', account: w(NRO).address },
      }),
    );
    const d = await admissionDirectory(stack, w(ADMIN).address);
    oKeyId = keyAdded(await mined(d.admitRo(w(ORO).address, oEnc.publicKey, oSigner.address)), d);
    nKeyId = keyAdded(await mined(d.admitRo(w(NRO).address, nEnc.publicKey, Wallet.createRandom().address)), d);

    // the oRO registers a study and keeps it in the agent's holdings: encrypted, its key sealed to the oRO's key
    study = `0x${randomBytes(32).toString('hex')}`;
    const custody = new Contract(stack.deployment.studyCustody, loadArtifact('StudyCustody').abi, w(ORO));
    await mined(custody.registerStudy(study, keccak256(toUtf8Bytes('manifest')), ...stack.issued(w(ORO).address, study)));
    const studyKey = generateStudyKey();
    mkdirSync(holdings);
    writeFileSync(join(holdings, `${study}.study`), encryptPayload(plaintext, studyKey, study));
    writeFileSync(join(holdings, `${study}.key`), sealTo(oEnc.publicKey, studyKey, roKeyContext(study)));
    await fundExchange(stack, w(NRO));
  });
  afterAll(async () => {
    await stopApps(apps);
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a key file others can read (exit 2, named), and is not ready while its signer is not in the directory', async () => {
    const open = keyFile('open.json', { encryption: oEnc.privateKey, signer: oSigner.privateKey, sender: devKey(ORO).privateKey }, 0o644);
    const refused = await startAgent(open).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
    const app = apps.at(-1)!;
    await waitFor('the agent to exit', async () => app.child.exitCode !== null, AGENT_MS);
    expect(app.child.exitCode).toBe(2);
    expect(lastWords([app])).toContain('must be 600');
    expect(lastWords([app])).not.toContain(oSigner.privateKey.slice(2));

    const stranger = Wallet.createRandom(); // a signer RoDirectory does not list for the oRO
    const unregistered = await startAgent(
      keyFile('stranger.json', { encryption: oEnc.privateKey, signer: stranger.privateKey, sender: devKey(ORO).privateKey }),
    );
    expect(await ready(unregistered.url)).toBe(503);
    const body = (await (await fetch(`${unregistered.url}/ready`)).json()) as { checks: Record<string, { ok: boolean }> };
    expect(body.checks).toMatchObject({ postgres: { ok: true }, chain: { ok: true }, directory: { ok: false } });
    await stopApps([unregistered.app]);
    expect(unregistered.app.child.exitCode).toBe(0);
  });

  it('grants a request by itself; the nRO opens the package byte-identical', async () => {
    const agent = (running = await startAgent(goodKeys()));
    await waitFor('the agent to be ready', async () => (await ready(agent.url)) === 200, AGENT_MS);
    const nro = await client(NRO);
    const tx = (await nro.ok(PREPARE_REQUEST, { ro: ids.nro, s: study, k: nKeyId.toString(), p: PERIOD })).prepareRequestStudyLease;
    expect((await nro.ok(RELAY, { tx: await signPrepared(w(NRO), tx) })).relayTransaction.function).toBe('requestLease');
    leaseId = await waitFor('the request to be indexed', async () => (await nro.ok(LEASES, { ro: ids.nro })).myLeases[0]?.leaseId);
    // the agent grants, stores and signs the package on its own: the fetch succeeds once it has
    const leased: Leased = await waitFor(
      'the agent to grant and sign',
      async () => {
        const r = await nro.send(LEASED, { ro: ids.nro, l: leaseId });
        return r.data?.leasedStudy ?? null;
      },
      AGENT_MS,
    );
    const opened = await openLease(stack.provider, { custody: stack.deployment.studyCustody }, leasedPackage(leased), nEnc.privateKey);
    expect(opened.equals(plaintext)).toBe(true);
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    expect(series(metrics, 'openread_ro_agent_lease_decisions_total{outcome="GRANTED"}')).toBe(1);
  });

  it('after expiry the fetch is refused and the agent records the expired use on chain, once, also across a restart', async () => {
    const nro = await client(NRO);
    const account = w(NRO).address;
    await increaseTime(stack.provider, PERIOD + 1);
    expect(await nro.code(LEASED, { ro: ids.nro, l: leaseId })).toBe('LEASE_EXPIRED');
    const [recorded] = await waitFor(
      'the expired use on chain',
      async () => {
        const logs = await expiredUses(leaseId, account);
        return logs.length ? logs : null;
      },
      AGENT_MS,
    );
    const custody = new Contract(stack.deployment.studyCustody, loadArtifact('StudyCustody').abi);
    expect(custody.interface.parseLog(recorded)!.args.recorder.toLowerCase()).toBe(w(ORO).address.toLowerCase());

    // a second refused fetch: handled, not recorded again
    const { app: first, url: firstUrl } = running;
    expect(await nro.code(LEASED, { ro: ids.nro, l: leaseId })).toBe('LEASE_EXPIRED');
    await waitFor(
      'the agent to pass over the second fetch',
      async () =>
        series(await (await fetch(`${firstUrl}/metrics`)).text(), 'openread_ro_agent_expired_uses_total{outcome="ALREADY_RECORDED"}') >= 1,
      AGENT_MS,
    );

    // SIGTERM stops it cleanly; a new process (its cursor starts over) records nothing twice
    await stopApps([first]);
    expect(first.child.exitCode).toBe(0);
    expect(await nro.code(LEASED, { ro: ids.nro, l: leaseId })).toBe('LEASE_EXPIRED');
    const again = (running = await startAgent(goodKeys()));
    await waitFor(
      'the restarted agent to pass over the three fetches',
      async () =>
        series(await (await fetch(`${again.url}/metrics`)).text(), 'openread_ro_agent_expired_uses_total{outcome="ALREADY_RECORDED"}') >= 3,
      AGENT_MS,
    );
    const metrics = await (await fetch(`${again.url}/metrics`)).text();
    expect(series(metrics, 'openread_ro_agent_expired_uses_total{outcome="RECORDED"}')).toBe(0);
    expect(await expiredUses(leaseId, account)).toHaveLength(1);
    // nor does the restart answer the granted lease again
    expect(series(metrics, 'openread_ro_agent_lease_decisions_total{outcome="GRANTED"}')).toBe(0);
    // the keys never reach the agent's output
    for (const a of apps) expect(a.lines.map((l) => l.text).join('\n')).not.toContain(oEnc.privateKey.slice(2));
  });

  it('policy manual: a request waits in the queue, is still there after a restart, and is granted by approve', async () => {
    await stopApps([running.app]);
    const manual = { RO_AGENT_POLICY: 'manual' };
    let agent = (running = await startAgent(goodKeys(), manual));
    const queue = async (url: string) => ((await (await fetch(`${url}/queue`)).json()) as { pending: string[] }).pending;
    const nro = await client(NRO);
    const tx = (await nro.ok(PREPARE_REQUEST, { ro: ids.nro, s: study, k: nKeyId.toString(), p: PERIOD })).prepareRequestStudyLease;
    await nro.ok(RELAY, { tx: await signPrepared(w(NRO), tx) });
    const [waiting] = await waitFor(
      'the request to be queued',
      async () => {
        const q = await queue(agent.url);
        return q.length ? q : null;
      },
      AGENT_MS,
    );
    expect(await nro.code(LEASED, { ro: ids.nro, l: waiting })).toBe('LEASE_NOT_GRANTED');

    // a restart loses nothing: the queue is the chain's open requests
    await stopApps([agent.app]);
    agent = running = await startAgent(goodKeys(), manual);
    await waitFor('the request to be queued again', async () => (await queue(agent.url)).includes(waiting), AGENT_MS);
    expect((await fetch(`${agent.url}/queue/999/approve`, { method: 'POST' })).status).toBe(404);

    const approved = await fetch(`${agent.url}/queue/${waiting}/approve`, { method: 'POST' });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ leaseId: waiting, outcome: 'GRANTED' });
    expect(await queue(agent.url)).toEqual([]);
    const leased: Leased = await waitFor(
      'the grant to be indexed',
      async () => (await nro.send(LEASED, { ro: ids.nro, l: waiting })).data?.leasedStudy,
      AGENT_MS,
    );
    const opened = await openLease(stack.provider, { custody: stack.deployment.studyCustody }, leasedPackage(leased), nEnc.privateKey);
    expect(opened.equals(plaintext)).toBe(true);
  });
});
