import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Interface } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import { loadArtifact } from '#chain';
import {
  type AccessLogEntry,
  AccessLogRepository,
  type ExchangeLeaseRow,
  ExchangeRepository,
  type LeasePackageRow,
  LeasePackageRepository,
  RoRepository,
} from '#db';
import type { Role } from '../common/access.js';
import { type ErrorCode, OpenReadError } from '../common/errors.js';
import { chainUnavailable } from '../common/chain-errors.js';
import { parseAddress, parseLimit, parseStudyId } from '../common/validation.js';
import { ChainService, type UnsignedTx } from '../chain/index.js';
import { RoAccessService } from '../ro/index.js';
import {
  type CustodyRecord,
  type ExchangeKey,
  type ExchangeLease,
  type ExchangeRo,
  toCustodyRecord,
  toExchangeKey,
  toExchangeLease,
  toExchangeRo,
} from './exchange.models.js';

/** StudyCustody's bounds a request is checked against before it is simulated (the contract's constants). */
const MIN_LEASE_PERIOD = 5 * 60;
const MAX_LEASE_PERIOD = 365 * 24 * 3600;
const MAX_RENEWALS = 12;

/** StudyCustody's functions the API prepares, and relays (relayTransaction) for RO depositors. */
const CUSTODY_WRITES = ['requestLease', 'cancelLeaseRequest', 'denyLease', 'renewLease', 'reportMisuse'] as const;
type CustodyWrite = (typeof CUSTODY_WRITES)[number];

/** Why a leasedStudy fetch was refused, as the access log records it (closed). */
export type LeaseFetchRefusal = 'NOT_REQUESTER' | 'LEASE_NOT_GRANTED' | 'CUSTODY_REVOKED' | 'LEASE_EXPIRED' | 'NO_PACKAGE';

function parseLeaseId(v: string): bigint {
  if (!/^[1-9]\d{0,76}$/.test(v)) throw new OpenReadError('BAD_INPUT', 'leaseId must be a positive integer (a StudyCustody lease ID)');
  return BigInt(v);
}

/** Who asks: their account and roles. */
export interface ExchangeCaller {
  address: string;
  roles: ReadonlySet<Role> | undefined;
}

/**
 * The imaging exchange as indexed (RoDirectory and StudyCustody). The directory and keys are public; leases and
 * custody are seen by the members (depositors, billing staff) of the RO whose wallets act for the exchange RO
 * concerned, and by admins.
 */
@Injectable()
export class ExchangeService implements OnModuleInit {
  private readonly custody = new Interface(loadArtifact('StudyCustody').abi);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly exchange: ExchangeRepository,
    private readonly ros: RoRepository,
    private readonly access: RoAccessService,
    private readonly packages: LeasePackageRepository,
    private readonly log: AccessLogRepository,
    private readonly chain: ChainService,
  ) {}

  onModuleInit(): void {
    const to = this.config.contracts.studyCustody;
    // StudyCustody takes direct calls (no forwarder): an RO's wallet signs; the API may relay it like a market call
    if (to) this.chain.allowRelay('studyCustody', to, this.custody, Object.fromEntries(CUSTODY_WRITES.map((f) => [f, 'RO_DEPOSITOR'])));
  }

  async directory(): Promise<ExchangeRo[]> {
    return (await this.exchange.directory(this.config.chainId)).map(toExchangeRo);
  }

  async keys(ro: string): Promise<ExchangeKey[]> {
    return (await this.exchange.keysOf(this.config.chainId, parseAddress(ro, 'ro'))).map(toExchangeKey);
  }

  async myLeases(caller: ExchangeCaller, roId: string, first: number | null): Promise<ExchangeLease[]> {
    const ros = await this.exchangeRos(caller, roId);
    if (!ros.length) return [];
    return (await this.exchange.leases(this.config.chainId, ros, 'ANY', parseLimit(first ?? undefined, 500, 100))).map(toExchangeLease);
  }

  async incomingRequests(caller: ExchangeCaller, roId: string, first: number | null): Promise<ExchangeLease[]> {
    const ros = await this.exchangeRos(caller, roId);
    if (!ros.length) return [];
    return (await this.exchange.leases(this.config.chainId, ros, 'INCOMING', parseLimit(first ?? undefined, 500, 100))).map(
      toExchangeLease,
    );
  }

  /** The custody of `studyId`, for its custodian's members only: FORBIDDEN otherwise, registered or not (no probing). */
  async custodyOf(caller: ExchangeCaller, roId: string, studyId: string): Promise<CustodyRecord> {
    const id = parseStudyId(studyId);
    const ros = await this.exchangeRos(caller, roId);
    const custody = await this.exchange.custodyOf(this.config.chainId, id);
    if (!custody || !ros.includes(custody.ro)) throw new OpenReadError('FORBIDDEN', 'only the custodian RO can see the custody of a study');
    return toCustodyRecord(custody);
  }

  /**
   * The sealed package of lease `leaseId` for a member of the requesting RO, while the lease is granted (or renewed)
   * and not past its expiry by the chain node's latest block time. Every package served and every refused attempt
   * on an existing lease is written to the access log (FETCH_LEASE), which the custodian lists (exchangeAccessLog):
   * a fetch after expiry is how the custodian learns of expired use. A caller who is not a member of `roId` (or
   * names a lease that does not exist) is refused without a log row, so no signed-in wallet can fill the log.
   * A lease of a study whose patient revoked its custody (StudyCustody.revokedAt, read from the node like the
   * clock, or already indexed) is refused CUSTODY_REVOKED: the chain ended every lease of the study at revocation.
   */
  async leasedStudy(caller: ExchangeCaller, roId: string, rawLeaseId: string): Promise<LeasePackageRow> {
    const leaseId = parseLeaseId(rawLeaseId);
    const ros = await this.exchangeRos(caller, roId);
    const lease = await this.exchange.lease(this.config.chainId, leaseId);
    const forbidden = () => new OpenReadError('FORBIDDEN', 'only members of the RO that requested this lease can fetch its study');
    if (!lease) throw forbidden();
    const refuse = (reason: LeaseFetchRefusal, code: ErrorCode, sentence: string) =>
      this.refuse(lease, caller.address, reason, new OpenReadError(code, sentence, { leaseId: leaseId.toString() }));
    if (!ros.includes(lease.requester)) return refuse('NOT_REQUESTER', 'FORBIDDEN', forbidden().message);
    if (lease.status !== 'GRANTED' && lease.status !== 'RENEWED' && lease.status !== 'EXPIRED')
      return refuse(
        'LEASE_NOT_GRANTED',
        'LEASE_NOT_GRANTED',
        `the custodian has not granted this lease (it is ${lease.status.toLowerCase()})`,
      );
    // the revocation as the node has it now, or as already indexed: a lagging indexer must not keep a revoked
    // study's lease open, and a node that cannot answer refuses the fetch (CHAIN_UNAVAILABLE), never serves it
    const [custody, revokedOnChain] = await Promise.all([
      this.exchange.custodyOf(this.config.chainId, lease.studyId),
      this.revokedAt(lease.studyId),
    ]);
    if (revokedOnChain !== 0 || (custody?.revokedAt ?? null) !== null)
      return refuse('CUSTODY_REVOKED', 'CUSTODY_REVOKED', "the study's patient revoked the custodian's custody; its leases have ended");
    // the node's latest block time, uncached, not the index's checkpoint: neither a lagging indexer nor a cached
    // clock may keep an expired lease open (a package is large; one block-header read per fetch is cheap beside it)
    const now = await this.chain.now(0);
    if (lease.status === 'EXPIRED' || lease.expiresAt === null || now > lease.expiresAt)
      return refuse('LEASE_EXPIRED', 'LEASE_EXPIRED', 'this lease has expired; ask the custodian to renew it');
    const pkg = await this.packages.package(this.config.chainId, leaseId);
    if (!pkg || pkg.signature === null || pkg.expiresAt === null)
      return refuse('NO_PACKAGE', 'NOT_FOUND', "the custodian's agent has not stored this lease's signed package yet; try again shortly");
    await this.log.append({
      chainId: this.config.chainId,
      studyId: lease.studyId,
      account: caller.address,
      action: 'FETCH_LEASE',
      outcome: 'GRANTED',
    });
    return pkg;
  }

  /** Lease fetches (served and refused) of a study, for the members of its custodian RO; FORBIDDEN otherwise. */
  async leaseAccessLog(caller: ExchangeCaller, roId: string, studyId: string): Promise<AccessLogEntry[]> {
    const id = parseStudyId(studyId);
    const ros = await this.exchangeRos(caller, roId);
    const custody = await this.exchange.custodyOf(this.config.chainId, id);
    if (!custody || !ros.includes(custody.ro)) throw new OpenReadError('FORBIDDEN', 'only the custodian RO can see who fetched its study');
    return (await this.log.forStudy(this.config.chainId, id)).filter((e) => e.action === 'FETCH_LEASE');
  }

  /** requestLease for the caller's wallet: the fee is escrowed from the exchange RO's StudyCustody balance. */
  async prepareRequest(caller: ExchangeCaller, roId: string, studyId: string, keyId: string, period: number, maxRenewals: number) {
    const id = parseStudyId(studyId);
    if (!/^[1-9]\d{0,76}$/.test(keyId)) throw new OpenReadError('BAD_INPUT', 'keyId must be one of your RO’s key IDs in RoDirectory');
    if (!Number.isInteger(period) || period < MIN_LEASE_PERIOD || period > MAX_LEASE_PERIOD)
      throw new OpenReadError('BAD_INPUT', `periodSeconds must be between ${MIN_LEASE_PERIOD} and ${MAX_LEASE_PERIOD}`);
    if (!Number.isInteger(maxRenewals) || maxRenewals < 0 || maxRenewals > MAX_RENEWALS)
      throw new OpenReadError('BAD_INPUT', `maxRenewals must be between 0 and ${MAX_RENEWALS}`);
    return this.prepareCustody(caller, roId, 'requestLease', [id, period, BigInt(keyId), maxRenewals]);
  }

  /** cancelLeaseRequest (the requester, after REQUEST_TIMEOUT), denyLease and renewLease (the custodian). */
  async prepareLeaseCall(caller: ExchangeCaller, roId: string, fn: 'cancelLeaseRequest' | 'denyLease' | 'renewLease', leaseId: string) {
    return this.prepareCustody(caller, roId, fn, [parseLeaseId(leaseId)]);
  }

  /** reportMisuse (the custodian): `account` acted for the lessee of an expired lease. */
  async prepareReportMisuse(caller: ExchangeCaller, roId: string, leaseId: string, account: string) {
    return this.prepareCustody(caller, roId, 'reportMisuse', [parseLeaseId(leaseId), parseAddress(account, 'account')]);
  }

  /**
   * A StudyCustody call from the caller's wallet, which must act for an exchange RO (RoDirectory) and be a member of
   * `roId`; simulated first, so the contract's refusals come back through the contract-error table.
   */
  private async prepareCustody(caller: ExchangeCaller, roId: string, fn: CustodyWrite, args: unknown[]): Promise<UnsignedTx> {
    const to = this.config.contracts.studyCustody;
    if (!to) throw new OpenReadError('NOT_FOUND', 'no StudyCustody is configured for this deployment');
    await this.access.requireMember(caller.address, caller.roles, roId, ['DEPOSITOR']);
    if (!(await this.exchange.rosOfAccounts(this.config.chainId, [caller.address])).length)
      throw new OpenReadError('FORBIDDEN', 'your wallet does not act for an RO of the imaging exchange (RoDirectory)');
    return this.chain.prepare(caller.address, fn, args, { to, iface: this.custody });
  }

  /** StudyCustody.revokedAt(studyId) at the node's latest block (0: not revoked); CHAIN_UNAVAILABLE if it cannot say. */
  private async revokedAt(studyId: string): Promise<number> {
    const to = this.config.contracts.studyCustody;
    // no StudyCustody configured: nothing was indexed from one either, so no lease reaches this point
    if (!to) throw new OpenReadError('NOT_FOUND', 'no StudyCustody is configured for this deployment');
    try {
      const out = await this.chain.provider.call({ to, data: this.custody.encodeFunctionData('revokedAt', [studyId]), blockTag: 'latest' });
      return Number(this.custody.decodeFunctionResult('revokedAt', out)[0]);
    } catch {
      throw chainUnavailable();
    }
  }

  private async refuse(lease: ExchangeLeaseRow, account: string, reason: LeaseFetchRefusal, error: OpenReadError): Promise<never> {
    await this.log.append({
      chainId: this.config.chainId,
      studyId: lease.studyId,
      account,
      action: 'FETCH_LEASE',
      outcome: 'REFUSED',
      reason,
    });
    throw error;
  }

  /** The exchange ROs the RO `roId`'s member wallets act for; FORBIDDEN unless the caller is its member (or an admin). */
  async exchangeRos(caller: ExchangeCaller, roId: string): Promise<string[]> {
    const ro = await this.access.requireMember(caller.address, caller.roles, roId, ['DEPOSITOR', 'BILLING']);
    const wallets = (await this.ros.members(ro.id)).map((m) => m.account);
    return wallets.length ? this.exchange.rosOfAccounts(this.config.chainId, wallets) : [];
  }
}
