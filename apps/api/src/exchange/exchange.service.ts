import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { ExchangeRepository, RoRepository } from '#db';
import type { Role } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import { parseAddress, parseLimit, parseStudyId } from '../common/validation.js';
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
export class ExchangeService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly exchange: ExchangeRepository,
    private readonly ros: RoRepository,
    private readonly access: RoAccessService,
  ) {}

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

  /** The exchange ROs the RO `roId`'s member wallets act for; FORBIDDEN unless the caller is its member (or an admin). */
  private async exchangeRos(caller: ExchangeCaller, roId: string): Promise<string[]> {
    const ro = await this.access.requireMember(caller.address, caller.roles, roId, ['DEPOSITOR', 'BILLING']);
    const wallets = (await this.ros.members(ro.id)).map((m) => m.account);
    return wallets.length ? this.exchange.rosOfAccounts(this.config.chainId, wallets) : [];
  }
}
