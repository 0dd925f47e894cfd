import { Inject } from '@nestjs/common';
import { Args, Field, GraphQLISODateTime, Int, ObjectType, Query, Resolver, registerEnumType } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig } from '../../../../libs/config/src/index.js';
import { LedgerEntryRow, LedgerRepository } from '../../../../libs/db/src/index.js';
import { CurrentUser } from '../auth/auth.guard.js';
import type { AuthUser } from '../auth/auth.service.js';
import { OpenReadError } from '../common/errors.js';
import { parseAddress, parseLimit } from '../common/validation.js';
import { Finality, FinalityService } from '../indexer/finality.js';

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
  @Field(() => Int, { description: 'blocks on top of this entry' }) confirmations: number;
  @Field(() => Finality) finality: string;
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
  @Field(() => LedgerTotals, { description: 'over the whole history, not just this page (confirmed entries, final or pending)' })
  totals: LedgerTotals;
  @Field(() => LedgerTotals, { description: 'the same over FINAL entries only: what no reorg can change any more' })
  finalTotals: LedgerTotals;
}

@Resolver()
export class LedgerResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ledger: LedgerRepository,
    private readonly finality: FinalityService,
  ) {}

  @Query(() => LedgerPage, { description: "An RO's postings, locks, payouts, fees and refunds from indexed events. Only the RO itself may read it." })
  async roLedger(
    @CurrentUser() user: AuthUser,
    @Args('roId', { description: "the RO's address" }) roId: string,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<LedgerPage> {
    const ro = parseAddress(roId, 'roId');
    if (ro !== user.address) throw new OpenReadError('FORBIDDEN', "only the RO's own account can read its ledger");
    const limit = parseLimit(first ?? undefined, 500, 100);
    let afterKey: { blockNumber: number; logIndex: number } | undefined;
    if (after) {
      const m = /^(\d+):(\d+)$/.exec(after);
      if (!m) throw new OpenReadError('BAD_INPUT', 'after must be a cursor returned as endCursor');
      afterKey = { blockNumber: Number(m[1]), logIndex: Number(m[2]) };
    }
    const finality = await this.finality.view();
    const [rows, totals, finalTotals] = await Promise.all([
      this.ledger.entries(this.config.chainId, ro, limit, afterKey),
      this.ledger.totals(this.config.chainId, ro),
      this.ledger.totals(this.config.chainId, ro, finality.finalizedBlock),
    ]);
    const summary = (totals: Record<string, bigint>) => {
      const t = (k: string) => (totals[k] ?? 0n).toString();
      return {
        deposits: t('DEPOSIT'),
        withdrawals: t('WITHDRAWAL'),
        escrowed: t('ESCROW'),
        payouts: t('PAYOUT'),
        fees: t('FEE'),
        refunds: t('REFUND'),
      };
    };
    const last = rows.at(-1);
    return {
      roId: ro,
      entries: rows.map((r: LedgerEntryRow) => ({ ...r, amount: r.amount.toString(), time: new Date(r.blockTime * 1000), ...finality.of(r.blockNumber) })),
      endCursor: rows.length === limit && last ? `${last.blockNumber}:${last.logIndex}` : null,
      totals: summary(totals),
      finalTotals: summary(finalTotals),
    };
  }
}
