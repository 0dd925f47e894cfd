import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../data-source.js';
import * as lib from '../index.js';
import { AccessLogRepository } from '../access-log/access-log.repository.js';
import { AuthRepository } from '../auth/auth.repository.js';
import { CredentialRepository } from '../credentials/credential.repository.js';
import { GovernanceRepository } from '../governance/governance.repository.js';
import { InboxRepository } from '../bus-inbox/inbox.repository.js';
import { CheckpointRepository } from '../checkpoints/checkpoint.repository.js';
import { LedgerRepository } from '../ledger/ledger.repository.js';
import { LeasePackageRepository } from '../lease-packages/lease-package.repository.js';
import { StudyManifestRepository } from '../storage/study-manifest.repository.js';
import { RateLimitRepository } from '../rate-limits/rate-limit.repository.js';
import { RelayOutboxRepository, type NewRelayRequest } from '../relay/relay-outbox.repository.js';
import { RoRepository } from '../ro/ro.repository.js';
import { RoleRepository } from '../auth/role.repository.js';
import { StudyFeedRepository } from '../studies/study-feed.repository.js';
import { StudyVaultRepository } from '../studies/study-vault.repository.js';
import { StudyRepository, type WorklistPath, type WorklistQuery } from '../studies/study.repository.js';
import { TreasuryRepository } from '../treasury/treasury.repository.js';
import { ExchangeRepository } from '../exchange/exchange.repository.js';
import { ExchangeAlertsRepository } from '../exchange/exchange-alerts.repository.js';
import { RoAgentRepository } from '../exchange/ro-agent.repository.js';
import { queryRows, sql } from '../sql.js';
import { paramsDigestSql } from '../studies/worklist-bounds.js';
import { hex } from '../testing/chain-fixtures.js';
import { createTestDatabase } from '../testing/test-database.js';
import { SqlRecorder } from './sql-recorder.js';

/**
 * libs/db/sql/<repository>.sql: the exact SQL each repository method sends, recorded by calling the methods with
 * representative arguments on a migrated throwaway database (every way a method can go that changes its SQL, e.g.
 * each worklist path, with and without a cursor). A change of a query shows in review as a diff of those files.
 * After changing a query, or adding a method (add a case below): `npm run sql:update`, then commit libs/db/sql.
 *
 * Only the SQL text is recorded, never parameters; the seeds below are inserted outside the recording.
 */
const UPDATE = 'npm run sql:update';
const CHAIN = 31337;
const T = 1_800_000_000;
const addr = (n: number) => hex(n, 20);
const id32 = (n: number) => hex(n, 32);
const [RADIOLOGIST, RO_WALLET, VERIFIER, SAFE, GOVERNOR, TOKEN, SIGNER, FORWARDER, MARKET] = [
  0xa1, 0xb1, 0xc1, 0xd1, 0xe1, 0xe2, 0xf1, 0xf2, 0xf3,
].map(addr);
const [OPEN_STUDY, CLAIMED_STUDY] = [id32(1), id32(2)];

/** One recorded call: the label (method and variant) and the statements it sent. */
type Recorded = [label: string, statements: string[]];
type Rec = <T>(label: string, call: () => Promise<T>) => Promise<T>;

/**
 * Per repository: its snapshot file and the calls that exercise it, in order (later calls may use earlier results).
 * Each label starts with the method's name; every method must have one (`internal`: private helpers, which the
 * public methods' cases run).
 */
const SUITES: {
  file: string;
  repository: abstract new (...args: never[]) => object;
  internal?: string[];
  run(db: DataSource, rec: Rec): Promise<void>;
}[] = [
  {
    file: 'auth/auth.repository',
    repository: AuthRepository,
    internal: ['pruneExpired'],
    async run(db, rec) {
      const r = new AuthRepository(db);
      await rec('createNonce', () => r.createNonce('nonce-1', 600));
      await rec('consumeNonce', () => r.consumeNonce('nonce-1'));
      await rec('createSession', () => r.createSession('token-hash', RADIOLOGIST, CHAIN, new Date(Date.UTC(2100, 0, 1))));
      await rec('findSession (the session lookup of every signed-in request)', () => r.findSession('token-hash'));
      await rec('deleteSession', () => r.deleteSession('token-hash'));
      await rec('pruneNonces (one batch)', () => r.pruneNonces({ batchSize: 100 }));
      await rec('pruneSessions (one batch)', () => r.pruneSessions({ batchSize: 100 }));
    },
  },
  {
    file: 'rate-limits/rate-limit.repository',
    repository: RateLimitRepository,
    internal: ['takeFrom'],
    async run(db, rec) {
      const r = new RateLimitRepository(db);
      const spec = { capacity: 10, refillPerSecond: 1 };
      await rec('take (account bucket upsert)', () => r.take(RADIOLOGIST, 'claim', spec));
      await rec('takeClient (client bucket upsert)', () => r.takeClient(Buffer.alloc(32, 7), 'nonce', spec));
      await rec('pruneFull account (one batch)', () => r.pruneFull('account', spec, { batchSize: 100 }));
      await rec('pruneFull client (one batch)', () => r.pruneFull('client', spec, { batchSize: 100 }));
    },
  },
  {
    file: 'studies/study.repository',
    repository: StudyRepository,
    async run(db, rec) {
      const r = new StudyRepository(db);
      const q: WorklistQuery = { chainId: CHAIN, radiologist: RADIOLOGIST, asOf: T + 7200, sort: 'BOUNTY_DESC', limit: 25 };
      const after = { bounty: 1000n, postedAt: T, studyId: OPEN_STUDY };
      await rec('findById', () => r.findById(CHAIN, OPEN_STUDY));
      await rec('currentBounty', () => r.currentBounty(CHAIN, OPEN_STUDY, T + 3600));
      // each worklist path the label names is the one the repository took (its answer says which)
      const page = async (label: string, query: WorklistQuery, path: WorklistPath) =>
        expect((await rec(`worklistPage ${label}`, () => r.worklistPage(query))).path, label).toBe(path);
      await page('BOUNTY_DESC, ceilings not valid (FULL)', q, 'FULL');
      await page('BOUNTY_DESC FULL, cursor and minBounty', { ...q, after, minBounty: 10n }, 'FULL');
      await queryRows(
        db,
        sql`INSERT INTO worklist_bounds (chain_id, gen, params_digest, valid_until) VALUES (${CHAIN}, 1, ${paramsDigestSql(sql`${CHAIN}`)}, ${T + 86400})`,
      );
      await page('BOUNTY_DESC, ceilings hold (CEILINGS)', q, 'CEILINGS');
      await page('BOUNTY_DESC CEILINGS, cursor and minBounty', { ...q, after, minBounty: 10n }, 'CEILINGS');
      await page('WAITING_DESC (PER_COMBINATION)', { ...q, sort: 'WAITING_DESC' }, 'PER_COMBINATION');
      await page('WAITING_DESC, cursor and minBounty', { ...q, sort: 'WAITING_DESC', after, minBounty: 10n }, 'PER_COMBINATION');
      // no credential: no rows; the path names only which ceilings' state the query read before finding none
      await page('BOUNTY_DESC, no credential', { ...q, radiologist: addr(0xa9) }, 'CEILINGS');
      await rec('worklist (worklistPage without the path, ceilings hold)', () => r.worklist(q));
      await rec("claimsOf (a radiologist's claims)", () => r.claimsOf(CHAIN, RADIOLOGIST, 50));
      await rec('due', () => r.due(CHAIN, T + 86400));
      await rec('isEligible', () => r.isEligible(CHAIN, RADIOLOGIST, OPEN_STUDY, T));
      await rec('parameters', () => r.parameters(CHAIN));
    },
  },
  {
    file: 'studies/study-feed.repository',
    repository: StudyFeedRepository,
    async run(db, rec) {
      const r = new StudyFeedRepository(db);
      await rec('head', () => r.head(CHAIN));
      await rec('changes (events touching studies)', () => r.changes(CHAIN, 0, 1_000_000, T + 3600, 100));
      await rec('changes (no study touched)', () => r.changes(CHAIN, 1_000_000, 2_000_000, T + 3600, 100));
      await rec('escalated (a window of an hour or more)', () => r.escalated(CHAIN, T, T + 7200, null, 100));
      await rec('escalated (a window within one hour cycle)', () => r.escalated(CHAIN, T + 100, T + 200, OPEN_STUDY, 100));
      await rec('escalated (a window across the hour)', () => r.escalated(CHAIN, T + 3500, T + 3700, null, 100));
      await rec('eligiblePairs', () => r.eligiblePairs(CHAIN, [RADIOLOGIST], [OPEN_STUDY, CLAIMED_STUDY], T));
    },
  },
  {
    file: 'ledger/ledger.repository',
    repository: LedgerRepository,
    async run(db, rec) {
      const r = new LedgerRepository(db);
      await rec('entries (first page)', () => r.entries(CHAIN, [RO_WALLET], 50));
      await rec('entries (after a cursor, in a block range)', () =>
        r.entries(CHAIN, [RO_WALLET], 50, { blockNumber: 1, logIndex: 0, kind: 'DEPOSIT', account: RO_WALLET }, { from: 1, to: 100 }),
      );
      await rec('between', () => r.between(CHAIN, [RO_WALLET], 1, 100));
      await rec('totals', () => r.totals(CHAIN, [RO_WALLET], { from: 1 }));
    },
  },
  {
    file: 'relay/relay-outbox.repository',
    repository: RelayOutboxRepository,
    async run(db, rec) {
      const r = new RelayOutboxRepository(db);
      const req: NewRelayRequest = {
        chainId: CHAIN,
        forwarder: FORWARDER,
        signer: SIGNER,
        signerNonce: 0n,
        target: MARKET,
        function: 'claim',
        data: '0x12345678',
        gas: 300_000n,
        deadline: T,
        signature: `0x${'11'.repeat(65)}`,
        reservedWei: 10n ** 15n,
        requestHash: id32(0x55),
        sender: addr(0x99),
      };
      const queued = await rec('enqueue (queued)', () => r.enqueue(req, 10n ** 18n));
      if (queued.kind !== 'queued') throw new Error(`enqueue: ${queued.kind}`);
      await rec('enqueue (duplicate)', () => r.enqueue(req, 10n ** 18n));
      await rec('enqueue (over the spend limit)', () => r.enqueue({ ...req, signerNonce: 1n, requestHash: id32(0x56) }, 1n));
      await rec('findById', () => r.findById(queued.row.id));
      await rec('findLive', () => r.findLive(CHAIN, FORWARDER, SIGNER, 0n));
      await rec('findByRequestHash', () => r.findByRequestHash(CHAIN, id32(0x55)));
      await rec('recheckSpend', () => r.recheckSpend(queued.row.id, CHAIN, SIGNER, 10n ** 15n, 10n ** 18n));
      await rec('highestLiveNonce', () => r.highestLiveNonce(CHAIN, FORWARDER, SIGNER));
      await rec("pending (the sender's pick)", () => r.pending(CHAIN, addr(0x99), true));
      const call = {
        chainId: CHAIN,
        purpose: 'settlement' as const,
        sender: addr(0x99),
        target: MARKET,
        function: 'settle',
        data: '0x12345678',
        dedupeKey: 'settle:1',
      };
      await rec('enqueueCall (queued)', () => r.enqueueCall(call));
      await rec('enqueueCall (already live: the live row)', () => r.enqueueCall(call));
      await rec('settled (already final or timed out: one read)', () => r.settled(queued.row.id, 0, 10));
      const attempt = { hash: id32(0x77), maxFeePerGas: '2', maxPriorityFeePerGas: '1', sentAt: T };
      await rec('markSent (nonce allocation and the signed transaction)', () =>
        r.markSent(queued.row.id, CHAIN, addr(0x99), 0, async () => ({ raw: '0x02', attempt })),
      );
      await rec('replaced', () => r.replaced(queued.row.id, '0x03', { ...attempt, hash: id32(0x78) }));
      await rec('requeue', () => r.requeue(queued.row.id));
      await rec('failed', () => r.failed(queued.row.id, 'REVERTED', 'refused'));
      await rec('finished', () => r.finished(queued.row.id, { status: 'MINED', txHash: id32(0x78), blockNumber: 1, costWei: 1n }));
      await rec('executedElsewhere', () => r.executedElsewhere(queued.row.id, { status: 'MINED', txHash: id32(0x79), blockNumber: 1 }));
      await rec('recordExecuted (a request whose row was lost: a restored backup)', () =>
        r.recordExecuted(
          { ...req, signerNonce: 7n, requestHash: id32(0x57) },
          { status: 'MINED', txHash: id32(0x7a), blockNumber: 1, paidBy: { relayer: addr(0x99), costWei: 1n } },
        ),
      );
      await rec('refusedAtBroadcast', () =>
        r.refusedAtBroadcast(queued.row.id, 'CONFLICT', 'refused', { chainId: CHAIN, sender: addr(0x99), nonce: 1, raw: '0x04', attempt }),
      );
      await rec('pruneFinal (one batch)', () => r.pruneFinal(CHAIN, 48, { batchSize: 100 }));
      await rec('queueStats', () => r.queueStats(CHAIN));
    },
  },
  {
    file: 'credentials/credential.repository',
    repository: CredentialRepository,
    async run(db, rec) {
      const r = new CredentialRepository(db);
      const app = {
        chainId: CHAIN,
        applicant: RADIOLOGIST,
        npi: '1234567893',
        licences: [{ state: 'CA', licenceNumber: 'A1', expiresOn: '2100-01-01' }],
        modalities: ['CT'],
        subspecialties: [],
        board: 'ABR',
        boardCertificate: 'C1',
        boardExpiresOn: null,
      };
      const a = await rec('create', () => r.create(app));
      const b = await rec('create (another applicant)', () => r.create({ ...app, applicant: addr(0xa2) }));
      await rec('findById', () => r.findById(CHAIN, a.id));
      await rec('ofApplicant', () => r.ofApplicant(CHAIN, RADIOLOGIST, 10));
      await rec('pending (review queue, after a cursor)', () => r.pending(CHAIN, 10, a.id));
      await rec('approve', () =>
        r.approve(CHAIN, a.id, VERIFIER, { statesMask: 1n, modalitiesMask: 2, expiresAt: T, expiryReason: 'RECREDENTIAL' }),
      );
      await rec('reject', () => r.reject(CHAIN, b.id, VERIFIER, 'incomplete'));
      await rec('revoke', () => r.revoke(CHAIN, RADIOLOGIST, VERIFIER, 'revoked'));
      await rec('expiringBefore', () => r.expiringBefore(CHAIN, T + 86400));
      await rec('credentialOf', () => r.credentialOf(CHAIN, RADIOLOGIST));
      await rec('notify', () => r.notify(CHAIN, RADIOLOGIST, 'CREDENTIAL_EXPIRING', 'k1', 'expires soon'));
      await rec('notificationsOf', () => r.notificationsOf(CHAIN, RADIOLOGIST, 10));
    },
  },
  {
    file: 'ro/ro.repository',
    repository: RoRepository,
    async run(db, rec) {
      const r = new RoRepository(db);
      const ro = await rec('create', () => r.create(CHAIN, 'Snapshot Imaging', Buffer.alloc(32, 1), VERIFIER));
      if (!ro) throw new Error('RO not created');
      await rec('find', () => r.find(CHAIN, ro.id));
      await rec('addMember (added)', () => r.addMember(CHAIN, ro.id, RO_WALLET, 'DEPOSITOR', VERIFIER));
      await rec('addMember (exists)', () => r.addMember(CHAIN, ro.id, RO_WALLET, 'DEPOSITOR', VERIFIER));
      await rec('members', () => r.members(ro.id));
      await rec('membershipsOf', () => r.membershipsOf(CHAIN, RO_WALLET));
      await rec('isMember', () => r.isMember(ro.id, RO_WALLET, 'DEPOSITOR'));
      await rec('roOfDepositor', () => r.roOfDepositor(CHAIN, RO_WALLET));
      await rec('removeMember', () => r.removeMember(ro.id, RO_WALLET, 'BILLING'));
      await rec('setEncryptionKey', () => r.setEncryptionKey(CHAIN, RADIOLOGIST, Buffer.alloc(32, 2), `0x${'09'.repeat(65)}`));
      await rec('encryptionKeyOf', () => r.encryptionKeyOf(CHAIN, RADIOLOGIST));
    },
  },
  {
    file: 'studies/study-vault.repository',
    repository: StudyVaultRepository,
    async run(db, rec) {
      const r = new StudyVaultRepository(db);
      const ro = await new RoRepository(db).create(CHAIN, 'Vault Imaging', Buffer.alloc(32, 3), VERIFIER);
      const posting = { studyId: CLAIMED_STUDY, roId: ro!.id, bodyPart: 'CHEST', preparedBy: RO_WALLET };
      await rec('createPosting', () => r.createPosting(CHAIN, posting));
      await rec('posting', () => r.posting(CHAIN, CLAIMED_STUDY));
      await rec('storePayload', () =>
        r.storePayload(CHAIN, CLAIMED_STUDY, Buffer.from('ciphertext'), Buffer.alloc(32, 4), Buffer.alloc(80, 5), RO_WALLET),
      );
      await rec('payload', () => r.payload(CHAIN, CLAIMED_STUDY));
      await rec('pendingLeases', () => r.pendingLeases(CHAIN, ro!.id, T));
      const lease = {
        studyId: CLAIMED_STUDY,
        radiologist: RADIOLOGIST,
        recipientKey: `0x${'06'.repeat(32)}`,
        wrappedKey: Buffer.alloc(80, 7),
        issuedAt: T,
        expiresAt: T + 3600,
        signer: RO_WALLET,
        signature: `0x${'08'.repeat(65)}`,
        reportKey: `0x${'03'.repeat(32)}`,
        claimedAt: T - 60,
        ciphertext: Buffer.from('claim ciphertext'),
      };
      await rec('insertLease', () => r.insertLease(CHAIN, lease));
      await rec('lease', () => r.lease(CHAIN, CLAIMED_STUDY, RADIOLOGIST, T + 3600));
      await rec('latestLease', () => r.latestLease(CHAIN, CLAIMED_STUDY, RADIOLOGIST));
      await rec('storeReport (stored)', () =>
        r.storeReport(CHAIN, CLAIMED_STUDY, id32(0x55), RADIOLOGIST, Buffer.from('report'), T + 3600),
      );
      await rec('storeReport (exists)', () => r.storeReport(CHAIN, CLAIMED_STUDY, id32(0x56), RADIOLOGIST, Buffer.from('other'), T + 3600));
      await rec('unpostedCount', () => r.unpostedCount(CHAIN, ro!.id, new Date(0)));
      await rec('livePayloadBytes', () => r.livePayloadBytes(CHAIN, ro!.id));
      await rec('report', () => r.report(CHAIN, CLAIMED_STUDY, id32(0x55)));
    },
  },
  {
    file: 'lease-packages/lease-package.repository',
    repository: LeasePackageRepository,
    async run(db, rec) {
      const r = new LeasePackageRepository(db);
      const sealed = {
        leaseId: 1n,
        studyId: OPEN_STUDY,
        requester: RADIOLOGIST,
        custodian: RO_WALLET,
        recipientKeyId: 2n,
        signerKeyId: 1n,
        issuedAt: BigInt(T),
        ciphertext: Buffer.from('ciphertext'),
        wrappedKey: Buffer.from('wrapped'),
      };
      await rec('storeSealed', () => r.storeSealed(CHAIN, sealed));
      await rec('sign', () => r.sign(CHAIN, 1n, BigInt(T + 3600), `0x${'11'.repeat(65)}`));
      await rec('package', () => r.package(CHAIN, 1n));
    },
  },
  {
    file: 'storage/study-manifest.repository',
    repository: StudyManifestRepository,
    async run(db, rec) {
      const r = new StudyManifestRepository(db);
      const manifest = { merkleRoot: id32(0x71), chunks: [{ hash: 'ab'.repeat(32), size: 1024 }] };
      await rec('store (stored)', () => r.store(CHAIN, OPEN_STUDY, manifest, RO_WALLET));
      await rec('store (exists)', () => r.store(CHAIN, OPEN_STUDY, manifest, RO_WALLET));
      await rec('manifest', () => r.manifest(CHAIN, OPEN_STUDY));
      await rec('chunkSize', () => r.chunkSize(CHAIN, OPEN_STUDY, 'ab'.repeat(32)));
    },
  },
  {
    file: 'access-log/access-log.repository',
    repository: AccessLogRepository,
    async run(db, rec) {
      const r = new AccessLogRepository(db);
      await rec('append', () =>
        r.append({ chainId: CHAIN, studyId: CLAIMED_STUDY, account: RADIOLOGIST, action: 'FETCH_PAYLOAD', outcome: 'GRANTED' }),
      );
      await rec('forStudy', () => r.forStudy(CHAIN, CLAIMED_STUDY));
      await rec('range', () => r.range(0, 100));
      await rec('head', () => r.head());
      await rec('between', () => r.between(1, 1));
      const anchor = { seq: 1, fromSeq: 1, head: id32(0x61), root: id32(0x62), blockNumber: 7, txHash: id32(0x63) };
      await rec('recordAnchors', () => r.recordAnchors(CHAIN, [anchor]));
      await rec('anchors', () => r.anchors(CHAIN, 0, 100));
      await rec('lastAnchor', () => r.lastAnchor(CHAIN));
      await rec('anchorsCovering', () => r.anchorsCovering(CHAIN, [1]));
    },
  },
  {
    file: 'auth/role.repository',
    repository: RoleRepository,
    async run(db, rec) {
      await rec('factsOf', () => new RoleRepository(db).factsOf(CHAIN, RADIOLOGIST, addr(0x33)));
    },
  },
  {
    file: 'checkpoints/checkpoint.repository',
    repository: CheckpointRepository,
    async run(db, rec) {
      const r = new CheckpointRepository(db);
      await rec('checkpoint', () => r.checkpoint(CHAIN, 'market'));
    },
  },
  {
    file: 'bus-inbox/inbox.repository',
    repository: InboxRepository,
    async run(db, rec) {
      const r = new InboxRepository(db);
      await rec('firstDelivery', () => r.firstDelivery('settler', 'message-1'));
      await rec('count', () => r.count('settler'));
    },
  },
  {
    file: 'governance/governance.repository',
    repository: GovernanceRepository,
    async run(db, rec) {
      const r = new GovernanceRepository(db);
      await rec('proposals (first page)', () => r.proposals(CHAIN, GOVERNOR, 20));
      await rec('proposals (before a block)', () => r.proposals(CHAIN, GOVERNOR, 20, 100));
      await rec('proposal', () => r.proposal(CHAIN, GOVERNOR, '1'));
      await rec('votesOf', () => r.votesOf(CHAIN, TOKEN, RADIOLOGIST));
      await rec('parameterHistory', () => r.parameterHistory(CHAIN, 20, 'baseBounty'));
    },
  },
  {
    file: 'treasury/treasury.repository',
    repository: TreasuryRepository,
    internal: ['select'],
    async run(db, rec) {
      const r = new TreasuryRepository(db);
      const p = {
        chainId: CHAIN,
        safe: SAFE,
        nonce: 0n,
        safeTxHash: id32(0x66),
        to: addr(0x67),
        value: 0n,
        data: '0x',
        operation: 0,
        payments: [{ to: addr(0x68), amount: '1' }],
        description: 'payout',
        proposer: VERIFIER,
        replaces: null,
      };
      await rec('highestPendingNonce', () => r.highestPendingNonce(CHAIN, SAFE));
      const id = await rec('insert', () => r.insert(p));
      if (!id) throw new Error('proposal not inserted');
      await rec('insert (nonce taken)', () => r.insert({ ...p, safeTxHash: id32(0x69) }));
      await rec('addSignature', () => r.addSignature(id, VERIFIER, `0x${'0A'.repeat(65)}`));
      await rec('proposal', () => r.proposal(CHAIN, id));
      await rec('proposals', () => r.proposals(CHAIN, SAFE, 'PENDING', 20));
      await rec('pendingBelow', () => r.pendingBelow(CHAIN, SAFE, 5n));
      await rec('markExecuted', () => r.markExecuted(CHAIN, id, id32(0x6a)));
      await rec('markStale', () => r.markStale(CHAIN, SAFE, 5n));
    },
  },
  {
    file: 'exchange/exchange.repository',
    repository: ExchangeRepository,
    async run(db, rec) {
      const r = new ExchangeRepository(db);
      await rec('directory', () => r.directory(CHAIN));
      await rec('keysOf', () => r.keysOf(CHAIN, RO_WALLET));
      await rec('rosOfAccounts', () => r.rosOfAccounts(CHAIN, [RO_WALLET]));
      await rec('leases (requester or custodian)', () => r.leases(CHAIN, [RO_WALLET], 'ANY', 20));
      await rec('leases (incoming requests)', () => r.leases(CHAIN, [RO_WALLET], 'INCOMING', 20));
      await rec('lease', () => r.lease(CHAIN, 1n));
      await rec('custodyOf', () => r.custodyOf(CHAIN, OPEN_STUDY));
      await rec('misuseOf', () => r.misuseOf(CHAIN, [RO_WALLET]));
    },
  },
  {
    file: 'exchange/exchange-alerts.repository',
    repository: ExchangeAlertsRepository,
    async run(db, rec) {
      const r = new ExchangeAlertsRepository(db);
      const roId = '00000000-0000-4000-8000-000000000001';
      await rec('misuseAccounts (first page)', () => r.misuseAccounts(CHAIN, [RO_WALLET], null, 20));
      await rec('misuseAccounts (after a cursor)', () => r.misuseAccounts(CHAIN, [RO_WALLET], RADIOLOGIST, 20));
      await rec('notifications (first page)', () => r.notifications(CHAIN, roId, [RO_WALLET], null, 20));
      await rec('notifications (after a cursor)', () => r.notifications(CHAIN, roId, [RO_WALLET], { atMs: T * 1000, key: 'req:1' }, 20));
      await rec('markRead', () => r.markRead(CHAIN, roId, ['req:1'], RO_WALLET));
      await rec('alertHead', () => r.alertHead(CHAIN));
      await rec('alertsAfter', () => r.alertsAfter(CHAIN, { eventId: 0, logSeq: 0 }, { eventId: 10, logSeq: 10 }, 20));
    },
  },
  {
    file: 'exchange/ro-agent.repository',
    repository: RoAgentRepository,
    async run(db, rec) {
      const r = new RoAgentRepository(db);
      await rec('expiredFetches', () => r.expiredFetches(CHAIN, RO_WALLET, 0, 100));
    },
  },
];

/** Rows the calls above need to take each of their paths: a credential, an open and a claimed study, feed events. */
async function seed(db: DataSource): Promise<void> {
  await db.query(
    `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, verifier, updated_block)
     VALUES ($1, $2, '{CA,NY}', '{CT,MR}', $3, $4, 1)`,
    [CHAIN, RADIOLOGIST, T + 365 * 86400, VERIFIER],
  );
  for (const [study, status] of [
    [OPEN_STUDY, 'OPEN'],
    [CLAIMED_STUDY, 'CLAIMED'],
  ]) {
    await db.query(
      `INSERT INTO studies (chain_id, study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty, posted_at, status,
         posted_tx, posted_block, updated_block)
       VALUES ($1, $2, $3, 'CT', 10000, 'ROUTINE', 'CA', 1000000, $4, 'OPEN', $2, 1, 1)`,
      [CHAIN, study, RO_WALLET, T],
    );
    if (status === 'CLAIMED')
      await db.query(
        `UPDATE studies SET status = 'CLAIMED', radiologist = $3, claimed_at = $4, lease_expires_at = $5 WHERE chain_id = $1 AND study_id = $2`,
        [CHAIN, study, RADIOLOGIST, T, T + 3600],
      );
  }
  await db.query(
    `INSERT INTO chain_events (id, chain_id, block_number, block_hash, block_time, tx_hash, log_index, contract, name, args)
     VALUES (1, $1, 1, $2, $3, $2, 0, $4, 'StudyPosted', $5), (2, $1, 1, $2, $3, $2, 1, $4, 'ParameterUpdated', $6)`,
    [CHAIN, id32(0x10), T, MARKET, JSON.stringify({ studyId: OPEN_STUDY }), JSON.stringify({ name: 'baseBounty', key: 1, value: '5' })],
  );
}

describe('SQL snapshots of the repositories (libs/db/sql)', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: DataSource;
  let recorder: SqlRecorder;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    const ds = createDataSource(testDb.url, { poolSize: 2 });
    recorder = SqlRecorder.attach(ds);
    db = await ds.initialize();
    await seed(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await testDb?.drop();
  });

  it('has a snapshot for every repository the lib exports', () => {
    const exported = Object.entries(lib)
      .filter(([name, v]) => name.endsWith('Repository') && typeof v === 'function')
      .map(([name]) => name);
    expect(
      exported.filter((name) => !SUITES.some((s) => s.repository.name === name)),
      'repositories without a suite: add one',
    ).toEqual([]);
  });

  for (const suite of SUITES) {
    it(`${suite.file}: the SQL its methods send matches libs/db/sql/${suite.file}.sql (update with \`${UPDATE}\`)`, async () => {
      const recorded: Recorded[] = [];
      await suite.run(db, async (label, call) => {
        let result: Awaited<ReturnType<typeof call>> | undefined;
        const statements = await recorder.record(async () => {
          result = await call();
        });
        expect(statements.length, `${label} sent no SQL`).toBeGreaterThan(0);
        recorded.push([label, statements]);
        return result as Awaited<ReturnType<typeof call>>;
      });
      const covered = new Set(recorded.map(([label]) => label.split(' ')[0]));
      const methods = Object.getOwnPropertyNames(suite.repository.prototype).filter(
        (m) => m !== 'constructor' && !suite.internal?.includes(m),
      );
      expect(
        methods.filter((m) => !covered.has(m)),
        `${suite.repository.name} methods without a case in libs/db/src/snapshots/sql-snapshots.spec.ts: add one`,
      ).toEqual([]);
      const text = [
        `-- The SQL of ${suite.file}.ts, as its methods send it (libs/db/src/snapshots/sql-snapshots.spec.ts calls them on a`,
        `-- migrated database). Generated by \`${UPDATE}\`; do not edit. Parameters are not recorded.`,
        ...recorded.map(([label, statements]) => `\n-- ${label}\n${statements.map((s) => `${s};`).join('\n')}`),
      ].join('\n');
      await expect(
        `${text}\n`,
        `The SQL of ${suite.file} differs from libs/db/sql/${suite.file}.sql: run \`${UPDATE}\` and commit the file`,
      ).toMatchFileSnapshot(`../../sql/${suite.file}.sql`);
    });
  }
});
