/**
 * The custodian's side of expired exchange leases (issue 14) on the whole stack over HTTP and graphql-ws: the oRO's
 * accessAlerts subscriber receives the API's refusal of a fetch after expiry and the expired use its account records
 * on chain (recordExpiredUse, sent directly with ethers as the RO agent would), another RO is FORBIDDEN at
 * subscribe; misuseReports counts each report and flags the account at the DAO's threshold; exchangeNotifications
 * lists and pages what concerns each RO and keeps read marks; prepareSetRoSuspended suspends the flagged account's RO.
 */
import { randomBytes } from 'node:crypto';
import { Contract, Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact, mined } from '#chain';
import { createDataSource } from '#db';
import { DEV_ROLES, increaseTime } from '#devchain';
import { AccessAlertFeed } from '#api';
import { RoAgent, generateX25519KeyPair } from '#lease';
import { GqlClient, signPrepared } from './support/client.js';
import { subscribe } from './support/live.js';
import { RELAY } from './support/ro-flow.js';
import {
  LEASED,
  LEASES,
  MemoryHoldings,
  admissionDirectory,
  createExchangeRos,
  fundExchange,
  keyAdded,
  registerHeldStudy,
  signedInClients,
  startRoAgent,
} from './support/exchange.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const PERIOD = 300; // StudyCustody's shortest lease
const THRESHOLD = 3; // StudyCustody's misuse threshold as deployed
const ORO = DEV_ROLES.roDepositor; // the custodian RO's principal account: depositor and billing
const NRO = DEV_ROLES.spare[1]; // the requesting RO
const OTHER = DEV_ROLES.spare[2]; // a third exchange RO
const ADMIN = DEV_ROLES.deployer; // the stack's admin and the directory's admission role

const ALERTS = (ro: string) => `subscription { accessAlerts(roId: "${ro}") { kind leaseId studyId account at txHash } }`;
const MISUSE = `query($ro: String!, $first: Int, $after: String) { misuseReports(roId: $ro, first: $first, after: $after) {
  threshold items { account ro roSuspended count threshold flagged flaggedAt reports { leaseId studyId requester reporter count txHash at } }
  pageInfo { endCursor hasNextPage } } }`;
const NOTIFICATIONS = `query($ro: String!, $first: Int, $after: String) { exchangeNotifications(roId: $ro, first: $first, after: $after) {
  items { id kind at leaseId studyId account count txHash read } pageInfo { endCursor hasNextPage } } }`;
const MARK_READ = `mutation($ro: String!, $ids: [String!]!) { markExchangeNotificationsRead(roId: $ro, ids: $ids) }`;
const SUSPEND = `mutation($ro: String!, $s: Boolean!) { prepareSetRoSuspended(ro: $ro, suspended: $s) { from to data chainId gasLimit } }`;
const DIRECTORY = `{ roDirectory { ro suspended } }`;

interface Notification {
  id: string;
  kind: string;
  at: string;
  leaseId: string | null;
  studyId: string | null;
  account: string | null;
  count: number | null;
  txHash: string | null;
  read: boolean;
}

describe('exchange alerts: access alerts, misuse reports and flags, notifications, suspension', () => {
  let stack: Stack;
  let ds: DataSource;
  let agent: RoAgent;
  const ids = { oro: '', nro: '', other: '' };
  const holdings = new MemoryHoldings();
  let nKeyId: bigint;
  let study: string;
  const leases: string[] = [];
  const w = (i: number) => devWallet(i, stack.provider);
  const custody = (i: number) => new Contract(stack.deployment.studyCustody, loadArtifact('StudyCustody').abi, w(i));
  const client = signedInClients(() => stack);
  const nroAccount = () => w(NRO).address.toLowerCase();

  /** The nRO requests `n` leases of the study (directly, as its wallet would sign them), the agent grants, then they expire. */
  async function expiredLeases(n: number): Promise<string[]> {
    for (let i = 0; i < n; i++) await mined(custody(NRO).requestLease(study, PERIOD, nKeyId, 0));
    const granted = await agent.poll();
    expect(granted.map((g) => g.outcome)).toEqual(Array(n).fill('GRANTED'));
    const fresh = granted.map((g) => g.leaseId.toString());
    const nro = await client(NRO);
    await waitFor('the grants to be indexed', async () => {
      const mine: { leaseId: string; status: string }[] = (await nro.ok(LEASES, { ro: ids.nro })).myLeases;
      return fresh.every((id) => mine.some((l) => l.leaseId === id && l.status === 'GRANTED'));
    });
    await increaseTime(stack.provider, PERIOD + 1);
    leases.push(...fresh);
    return fresh;
  }

  async function allNotifications(c: GqlClient, ro: string, first: number): Promise<Notification[]> {
    const all: Notification[] = [];
    let after: string | null = null;
    for (;;) {
      const page: { items: Notification[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } = (
        await c.ok(NOTIFICATIONS, { ro, first, after })
      ).exchangeNotifications;
      expect(page.items.length).toBeLessThanOrEqual(first);
      all.push(...page.items);
      if (!page.pageInfo.hasNextPage) return all;
      after = page.pageInfo.endCursor;
    }
  }

  beforeAll(async () => {
    stack = await startStack({ api: { feedPollMs: 100 } });
    ds = await createDataSource(stack.db.url).initialize();
    const admin = await client(ADMIN);
    Object.assign(
      ids,
      await createExchangeRos(admin, {
        oro: { name: 'Home Imaging', account: w(ORO).address },
        nro: { name: 'Far ER', account: w(NRO).address },
        other: { name: 'Elsewhere Radiology', account: w(OTHER).address },
      }),
    );

    const d = await admissionDirectory(stack, w(ADMIN).address);
    const oSigner = Wallet.createRandom();
    const oKeyId = keyAdded(await mined(d.admitRo(w(ORO).address, generateX25519KeyPair().publicKey, oSigner.address)), d);
    nKeyId = keyAdded(await mined(d.admitRo(w(NRO).address, generateX25519KeyPair().publicKey, Wallet.createRandom().address)), d);
    await mined(d.admitRo(w(OTHER).address, generateX25519KeyPair().publicKey, Wallet.createRandom().address));

    study = await registerHeldStudy(stack, w(ORO), holdings, randomBytes(2_000));
    await fundExchange(stack, w(NRO));

    agent = await startRoAgent(stack, ds, { sender: w(ORO), signer: oSigner, signerKeyId: oKeyId, holdings });
  });
  afterAll(async () => {
    await ds?.destroy();
    await stack?.stop();
  });

  it("alerts the custodian's members of a fetch refused after expiry and of an expired use recorded on chain; other ROs are FORBIDDEN", async () => {
    const [oro, nro, other] = [await client(ORO), await client(NRO), await client(OTHER)];
    // another RO's member, and the lessee's, cannot watch the custodian's alerts
    for (const stranger of [other, nro]) {
      const refused = await subscribe(stack.api, stranger.token!, ALERTS(ids.oro));
      expect((await refused.next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      await refused.close();
    }
    const anonymous = await subscribe(stack.api, 'not-a-session', ALERTS(ids.oro));
    expect((await anonymous.next()).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await anonymous.close();

    const alerts = await subscribe(stack.api, oro.token!, ALERTS(ids.oro));
    // the lessee's own RO and a third RO may subscribe for themselves: they are custodians of nothing here
    const lesseeAlerts = await subscribe(stack.api, nro.token!, ALERTS(ids.nro));
    const otherAlerts = await subscribe(stack.api, other.token!, ALERTS(ids.other));
    const feed = stack.api.get(AccessAlertFeed);
    await waitFor('the three subscriptions to be registered', async () => feed.subscribers === 3);

    const [lease] = await expiredLeases(1);
    expect(await nro.code(LEASED, { ro: ids.nro, l: lease })).toBe('LEASE_EXPIRED');
    const refusedAlert = await alerts.next(15_000);
    expect(refusedAlert.errors).toBeUndefined();
    expect(refusedAlert.data.accessAlerts).toMatchObject({
      kind: 'FETCH_REFUSED_EXPIRED',
      leaseId: lease,
      studyId: study,
      account: nroAccount(),
      txHash: null,
    });

    // the custodian's agent records the expired use on chain; the alert follows once it is indexed
    const receipt = await mined(custody(ORO).recordExpiredUse(lease, w(NRO).address));
    const recorded = await alerts.next(15_000);
    expect(recorded.data.accessAlerts).toMatchObject({
      kind: 'EXPIRED_USE_RECORDED',
      leaseId: lease,
      studyId: study,
      account: nroAccount(),
      txHash: receipt!.hash,
    });
    // nothing for the ROs that do not hold the study (their feeds were polled with the same alerts)
    expect(lesseeAlerts.pending()).toBe(0);
    expect(otherAlerts.pending()).toBe(0);
    expect(alerts.pending()).toBe(0);
    for (const s of [alerts, lesseeAlerts, otherAlerts]) await s.close();

    // a feed ends when its session does
    await waitFor('the closed feeds to be dropped', async () => feed.subscribers === 0);
    const session = new GqlClient(stack.api);
    await session.signIn(w(ORO));
    const ending = await subscribe(stack.api, session.token!, ALERTS(ids.oro));
    await waitFor('the feed to be registered', async () => feed.subscribers === 1);
    await session.ok(`mutation { logout }`);
    expect((await ending.next(15_000)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await ending.close();
  });

  it('counts misuse reports per account for both ROs, flags the account at the threshold, and an admission-role holder suspends its RO', async () => {
    const [oro, nro, other] = [await client(ORO), await client(NRO), await client(OTHER)];
    expect(await other.code(MISUSE, { ro: ids.oro })).toBe('FORBIDDEN');
    expect(await oro.code(MISUSE, { ro: ids.oro, first: 0 })).toBe('BAD_INPUT');
    expect(await oro.code(MISUSE, { ro: ids.oro, after: 'not a cursor' })).toBe('BAD_INPUT');
    expect((await oro.ok(MISUSE, { ro: ids.oro })).misuseReports).toEqual({
      threshold: THRESHOLD,
      items: [],
      pageInfo: { endCursor: null, hasNextPage: false },
    });

    const report = async (lease: string) => {
      await mined(custody(ORO).reportMisuse(lease, w(NRO).address));
    };
    await report(leases[0]);
    const counted = async (c: GqlClient, ro: string, count: number) =>
      waitFor(`${count} report(s) indexed`, async () => {
        const page = (await c.ok(MISUSE, { ro })).misuseReports;
        return page.items[0]?.count === count ? page : undefined;
      });
    for (const [c, ro] of [
      [oro, ids.oro],
      [nro, ids.nro],
    ] as const) {
      const page = await counted(c, ro, 1);
      expect(page.items).toHaveLength(1);
      expect(page.items[0]).toMatchObject({
        account: nroAccount(),
        ro: nroAccount(),
        roSuspended: false,
        count: 1,
        threshold: THRESHOLD,
        flagged: false,
        flaggedAt: null,
      });
      expect(page.items[0].reports).toEqual([
        expect.objectContaining({
          leaseId: leases[0],
          studyId: study,
          requester: nroAccount(),
          reporter: w(ORO).address.toLowerCase(),
          count: 1,
        }),
      ]);
    }
    // a third RO is party to none of them
    expect((await other.ok(MISUSE, { ro: ids.other })).misuseReports.items).toEqual([]);

    // two more expired leases reported: the count reaches the threshold and the chain flags the account
    const more = await expiredLeases(2);
    for (const lease of more) await report(lease);
    const flagged = await counted(oro, ids.oro, THRESHOLD);
    expect(flagged.items[0]).toMatchObject({ count: THRESHOLD, flagged: true });
    expect(flagged.items[0].flaggedAt).not.toBeNull();
    expect(flagged.items[0].reports.map((r: { leaseId: string; count: number }) => [r.leaseId, r.count])).toEqual([
      [more[1], 3],
      [more[0], 2],
      [leases[0], 1],
    ]);
    // paging by account: one account, one page
    const page1 = (await oro.ok(MISUSE, { ro: ids.oro, first: 1 })).misuseReports;
    expect(page1.pageInfo.hasNextPage).toBe(false);
    expect((await oro.ok(MISUSE, { ro: ids.oro, first: 1, after: page1.pageInfo.endCursor })).misuseReports.items).toEqual([]);

    // the review: the admission role's holder suspends the flagged account's RO (only admins and verifiers may ask)
    expect(await nro.code(SUSPEND, { ro: nroAccount(), s: true })).toBe('FORBIDDEN');
    const admin = await client(ADMIN);
    expect(await admin.code(SUSPEND, { ro: 'nope', s: true })).toBe('BAD_INPUT');
    expect(await admin.code(SUSPEND, { ro: Wallet.createRandom().address, s: true })).toBe('NOT_FOUND'); // RoNotAdmitted
    const tx = (await admin.ok(SUSPEND, { ro: nroAccount(), s: true })).prepareSetRoSuspended;
    expect(tx.to.toLowerCase()).toBe(stack.deployment.roDirectory.toLowerCase());
    expect((await admin.ok(RELAY, { tx: await signPrepared(w(ADMIN), tx) })).relayTransaction.function).toBe('setSuspended');
    await waitFor('the suspension to be indexed', async () => (await oro.ok(MISUSE, { ro: ids.oro })).misuseReports.items[0].roSuspended);
    expect((await oro.ok(DIRECTORY)).roDirectory.find((r: { ro: string }) => r.ro === nroAccount()).suspended).toBe(true);
    // suspending twice is the contract's refusal, not a transaction
    expect(await admin.code(SUSPEND, { ro: nroAccount(), s: true })).toBe('CONFLICT');
  });

  it('lists each RO its notifications newest first, pages them with a cursor and keeps read marks per RO', async () => {
    const [oro, nro, other] = [await client(ORO), await client(NRO), await client(OTHER)];
    expect(await other.code(NOTIFICATIONS, { ro: ids.oro })).toBe('FORBIDDEN');
    expect(await oro.code(NOTIFICATIONS, { ro: ids.oro, after: 'bm90IGEgY3Vyc29y' })).toBe('BAD_INPUT');
    expect(await oro.code(NOTIFICATIONS, { ro: ids.oro, first: 201 })).toBe('BAD_INPUT');

    // the custodian: three requests, one refused fetch after expiry, one expired use recorded
    const all = await allNotifications(oro, ids.oro, 50);
    expect(all.map((n) => n.kind).sort()).toEqual(
      ['EXPIRED_USE_RECORDED', 'FETCH_REFUSED_EXPIRED', 'LEASE_REQUESTED', 'LEASE_REQUESTED', 'LEASE_REQUESTED'].sort(),
    );
    expect(
      all
        .filter((n) => n.kind === 'LEASE_REQUESTED')
        .map((n) => n.leaseId)
        .sort(),
    ).toEqual([...leases].sort());
    expect(all.find((n) => n.kind === 'EXPIRED_USE_RECORDED')).toMatchObject({ leaseId: leases[0], account: nroAccount() });
    for (let i = 1; i < all.length; i++) expect(Date.parse(all[i - 1].at)).toBeGreaterThanOrEqual(Date.parse(all[i].at));
    // pages of two give the same list, each item once
    const paged = await allNotifications(oro, ids.oro, 2);
    expect(paged.map((n) => n.id)).toEqual(all.map((n) => n.id));
    expect(new Set(paged.map((n) => n.id)).size).toBe(paged.length);

    // the lessee: three misuse reports against its account and the flag
    const lessee = await allNotifications(nro, ids.nro, 50);
    expect(lessee.map((n) => n.kind).sort()).toEqual(['ACCOUNT_FLAGGED', 'MISUSE_REPORTED', 'MISUSE_REPORTED', 'MISUSE_REPORTED']);
    expect(lessee.find((n) => n.kind === 'ACCOUNT_FLAGGED')).toMatchObject({ account: nroAccount(), count: THRESHOLD });
    expect((await allNotifications(other, ids.other, 50)).length).toBe(0);

    // read marks: per RO, idempotent, only notification ids
    expect(all.every((n) => !n.read)).toBe(true);
    const two = all.slice(0, 2).map((n) => n.id);
    expect((await oro.ok(MARK_READ, { ro: ids.oro, ids: two })).markExchangeNotificationsRead).toBe(2);
    expect((await oro.ok(MARK_READ, { ro: ids.oro, ids: two })).markExchangeNotificationsRead).toBe(0);
    expect(await oro.code(MARK_READ, { ro: ids.oro, ids: ['drop table'] })).toBe('BAD_INPUT');
    expect(await oro.code(MARK_READ, { ro: ids.oro, ids: [] })).toBe('BAD_INPUT');
    expect(await other.code(MARK_READ, { ro: ids.oro, ids: two })).toBe('FORBIDDEN');
    const after = await allNotifications(oro, ids.oro, 50);
    expect(after.filter((n) => n.read).map((n) => n.id)).toEqual(two);
    expect((await allNotifications(nro, ids.nro, 50)).every((n) => !n.read)).toBe(true);
  });
});
