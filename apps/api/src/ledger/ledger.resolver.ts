import { Inject } from '@nestjs/common';
import { Args, Context, Field, GraphQLISODateTime, Int, ObjectType, Query, Resolver, registerEnumType } from '@nestjs/graphql';
import { APP_CONFIG, AppConfig } from '../../../../libs/config/src/index.js';
import { LedgerEntryRow, LedgerRepository, RoRepository } from '../../../../libs/db/src/index.js';
import { CurrentUser, GqlContext, Roles } from '../auth/auth.guard.js';
import type { AuthUser } from '../auth/auth.service.js';
import { OpenReadError } from '../common/errors.js';
import { parseLimit } from '../common/validation.js';
import { RoAccessService } from '../ro/ro-access.service.js';

export enum LedgerKind {
  DEPOSIT = 'DEPOSIT',
  WITHDRAWAL = 'WITHDRAWAL',
  ESCROW = 'ESCROW',
  LOCK = 'LOCK',
  LOCK_RELEASED = 'LOCK_RELEASED',
  DISPUTE = 'DISPUTE',
  PAYOUT = 'PAYOUT',
  FEE = 'FEE',
  REFUND = 'REFUND',
}
registerEnumType(LedgerKind, {
  name: 'LedgerKind',
  description:
    'DEPOSIT/WITHDRAWAL move tokens in/out of the market; ESCROW = maxBounty set aside at posting; LOCK = bounty locked at claim; ' +
    'LOCK_RELEASED = lease expired; PAYOUT/FEE/REFUND = the split at settlement (or REFUND of a cancelled study)',
});

@ObjectType()
class LedgerEntry {
  @Field(() => LedgerKind) kind: string;
  @Field({ description: 'token base units' }) amount: string;
  @Field(() => String, { nullable: true }) studyId: string | null;
  @Field(() => String, { nullable: true, description: 'radiologist (LOCK, PAYOUT) or treasury (FEE)' }) counterparty: string | null;
  @Field() txHash: string;
  @Field(() => Int) logIndex: number;
  @Field(() => Int) blockNumber: number;
  @Field(() => GraphQLISODateTime) time: Date;
}

@ObjectType()
class LedgerTotals {
  @Field() deposits: string;
  @Field() withdrawals: string;
  @Field() escrowed: string;
  @Field() payouts: string;
  @Field() fees: string;
  @Field() refunds: string;
}

@ObjectType()
class LedgerPage {
  @Field() roId: string;
  @Field(() => [LedgerEntry]) entries: LedgerEntry[];
  @Field(() => String, { nullable: true, description: 'pass as `after` for the next page' }) endCursor: string | null;
  @Field(() => LedgerTotals, { description: 'over the whole history, not just this page' }) totals: LedgerTotals;
}

@Resolver()
export class LedgerResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ledger: LedgerRepository,
    private readonly ros: RoRepository,
    private readonly access: RoAccessService,
  ) {}

  @Roles('RO_BILLING', 'ADMIN')
  @Query(() => LedgerPage, {
    description: "An RO's deposits, postings, locks, payouts, fees and refunds over all its depositor wallets, from indexed events. Its billing staff only.",
  })
  async roLedger(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('roId', { description: "the RO's id" }) roId: string,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<LedgerPage> {
    // billing staff are scoped to their own RO; admins see all
    const ro = (await this.access.requireMember(user.address, ctx.req.roles, roId, ['BILLING'])).id;
    const accounts = (await this.ros.members(ro)).filter((m) => m.role === 'DEPOSITOR').map((m) => m.account);
    const limit = parseLimit(first ?? undefined, 500, 100);
    let afterKey: { blockNumber: number; logIndex: number } | undefined;
    if (after) {
      const m = /^(\d+):(\d+)$/.exec(after);
      if (!m) throw new OpenReadError('BAD_INPUT', 'after must be a cursor returned as endCursor');
      afterKey = { blockNumber: Number(m[1]), logIndex: Number(m[2]) };
    }
    const [rows, totals] = await Promise.all([
      this.ledger.entries(this.config.chainId, accounts, limit, afterKey),
      this.ledger.totals(this.config.chainId, accounts),
    ]);
    const t = (k: string) => (totals[k] ?? 0n).toString();
    const last = rows.at(-1);
    return {
      roId: ro,
      entries: rows.map((r: LedgerEntryRow) => ({ ...r, amount: r.amount.toString(), time: new Date(r.blockTime * 1000) })),
      endCursor: rows.length === limit && last ? `${last.blockNumber}:${last.logIndex}` : null,
      totals: {
        deposits: t('DEPOSIT'),
        withdrawals: t('WITHDRAWAL'),
        escrowed: t('ESCROW'),
        payouts: t('PAYOUT'),
        fees: t('FEE'),
        refunds: t('REFUND'),
      },
    };
  }
}
