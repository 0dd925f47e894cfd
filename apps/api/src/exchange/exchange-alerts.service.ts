import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Interface } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import { loadArtifact } from '#chain';
import { ExchangeAlertsRepository, type NotificationPosition } from '#db';
import { chainUnavailable } from '../common/chain-errors.js';
import { OpenReadError } from '../common/errors.js';
import { decodeCursor, encodeCursor } from '../common/graphql/index.js';
import { parseAddress, parseLimit } from '../common/validation.js';
import { ChainService, type UnsignedTx } from '../chain/index.js';
import { type ExchangeNotificationPage, type MisuseReportPage, toExchangeNotification, toMisuseAccount } from './exchange.models.js';
import { type ExchangeCaller, ExchangeService } from './exchange.service.js';

/** Notification keys as the repository makes them (what markExchangeNotificationsRead accepts). */
const NOTIFICATION_KEY = /^(xu:\d{1,20}:\d{1,10}|log:\d{1,20}|req:\d{1,78}|mr:\d{1,78}|flag:0x[0-9a-f]{40}:\d{1,20})$/;
const MAX_MARK = 500;

/**
 * The custodian's side of expired leases: misuse reports per account with the DAO's threshold and flags, the RO's
 * notification list (derived from indexed tables and the access log; read marks are the only state it keeps), and
 * the governed suspension of an exchange RO (RoDirectory.setSuspended) prepared for the wallet that holds the
 * admission role.
 */
@Injectable()
export class ExchangeAlertsService implements OnModuleInit {
  private readonly custody = new Interface(loadArtifact('StudyCustody').abi);
  private readonly directory = new Interface(loadArtifact('RoDirectory').abi);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: ExchangeAlertsRepository,
    private readonly exchange: ExchangeService,
    private readonly chain: ChainService,
  ) {}

  onModuleInit(): void {
    const to = this.config.contracts.roDirectory;
    // the admission role's holder (an appointee of the DAO, or the timelock through a proposal) suspends an RO;
    // the chain checks the role, the API only lets admins and verifiers have it relayed
    if (to) this.chain.allowRelay('roDirectory', to, this.directory, { setSuspended: ['ADMIN', 'VERIFIER'] });
  }

  /**
   * Accounts reported for misuse in reports the caller's RO made (as custodian) or received (as lessee), by account,
   * with their chain-wide count, the DAO's threshold and the flag; FORBIDDEN unless a member of `roId` (or an admin).
   */
  async misuseReports(caller: ExchangeCaller, roId: string, first: number | null, after: string | null): Promise<MisuseReportPage> {
    const limit = parseLimit(first ?? undefined, 100, 20);
    const from = !after
      ? null
      : decodeCursor(after, (p) => (/^0x[0-9a-f]{40}$/.test(p) ? p : undefined), 'after is not a misuseReports cursor');
    const ros = await this.exchange.exchangeRos(caller, roId);
    const threshold = await this.misuseThreshold();
    if (!ros.length) return { threshold, items: [], pageInfo: { endCursor: null, hasNextPage: false } };
    const rows = await this.repo.misuseAccounts(this.config.chainId, ros, from, limit + 1);
    const page = rows.slice(0, limit);
    return {
      threshold,
      items: page.map((a) => toMisuseAccount(a, threshold)),
      pageInfo: { endCursor: page.length ? encodeCursor(page.at(-1)!.account) : null, hasNextPage: rows.length > limit },
    };
  }

  /** The RO's exchange notifications, newest first, paged; FORBIDDEN unless a member of `roId` (or an admin). */
  async notifications(caller: ExchangeCaller, roId: string, first: number | null, after: string | null): Promise<ExchangeNotificationPage> {
    const limit = parseLimit(first ?? undefined, 200, 50);
    const from = !after
      ? null
      : decodeCursor<NotificationPosition>(
          after,
          (p) => {
            const m = /^(\d{1,16})\|(.{1,120})$/.exec(p);
            return m && NOTIFICATION_KEY.test(m[2]) ? { atMs: Number(m[1]), key: m[2] } : undefined;
          },
          'after is not an exchangeNotifications cursor',
        );
    const ros = await this.exchange.exchangeRos(caller, roId);
    if (!ros.length) return { items: [], pageInfo: { endCursor: null, hasNextPage: false } };
    const rows = await this.repo.notifications(this.config.chainId, roId.toLowerCase(), ros, from, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map(toExchangeNotification),
      pageInfo: { endCursor: last ? encodeCursor(`${last.atMs}|${last.key}`) : null, hasNextPage: rows.length > limit },
    };
  }

  /** Marks notifications read for the whole RO (idempotent); answers how many were not marked before. */
  async markRead(caller: ExchangeCaller, roId: string, ids: string[]): Promise<number> {
    if (!ids.length || ids.length > MAX_MARK) throw new OpenReadError('BAD_INPUT', `ids must name 1 to ${MAX_MARK} notifications`);
    if (!ids.every((id) => NOTIFICATION_KEY.test(id)))
      throw new OpenReadError('BAD_INPUT', 'ids must be notification ids from exchangeNotifications');
    await this.exchange.exchangeRos(caller, roId);
    return this.repo.markRead(this.config.chainId, roId.toLowerCase(), [...new Set(ids)], caller.address);
  }

  /**
   * RoDirectory.setSuspended for the caller's wallet, which must hold the directory's ADMISSION_ROLE (the simulation
   * refuses otherwise: FORBIDDEN). Suspends (or reinstates) the exchange RO `ro`, e.g. the RO of a flagged account.
   */
  async prepareSetSuspended(caller: ExchangeCaller, ro: string, suspended: boolean): Promise<UnsignedTx> {
    const to = this.config.contracts.roDirectory;
    if (!to) throw new OpenReadError('NOT_FOUND', 'no RoDirectory is configured for this deployment');
    return this.chain.prepare(caller.address, 'setSuspended', [parseAddress(ro, 'ro'), suspended], { to, iface: this.directory });
  }

  /** StudyCustody.misuseThreshold from the chain (the index keeps no parameter of StudyCustody). */
  private async misuseThreshold(): Promise<number> {
    const to = this.config.contracts.studyCustody;
    if (!to) throw new OpenReadError('NOT_FOUND', 'no StudyCustody is configured for this deployment');
    try {
      const out = await this.chain.provider.call({ to, data: this.custody.encodeFunctionData('misuseThreshold', []) });
      return Number(this.custody.decodeFunctionResult('misuseThreshold', out)[0]);
    } catch {
      throw chainUnavailable();
    }
  }
}
