import { Inject } from '@nestjs/common';
import { Args, Context, Field, GraphQLISODateTime, Int, ObjectType, Query, Resolver, registerEnumType } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig } from '#config';
import { LedgerCursor, LedgerEntryRow, LedgerRepository } from '#db';
import { CurrentUser, type GqlContext, Roles } from '../auth/auth.guard.js';
import type { AuthUser } from '../auth/auth.service.js';
import { OpenReadError } from '../common/errors.js';
import { parseLimit } from '../common/validation.js';
import { Finality, FinalityService } from '../indexer/finality.js';
import { RoAccessService } from '../ro/ro-access.service.js';
import { ReconciliationService } from '../billing/reconciliation.service.js';
import { LEDGER_KIND_DESCRIPTION, LedgerKind } from '#domain';

registerEnumType(LedgerKind, { name: 'LedgerKind', description: LEDGER_KIND_DESCRIPTION });

@ObjectType()
class LedgerEntry {
  @Field({ description: 'the RO wallet the line belongs to' }) account: string;
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

@ObjectType({ description: 'token base units per kind of ledger line' })
export class LedgerTotals {
  @Field() deposits: string;
  @Field() withdrawals: string;
  @Field() escrowed: string;
  @Field() payouts: string;
  @Field() fees: string;
  @Field() refunds: string;
  @Field({ description: 'bounties locked at claim (inside the escrow)' }) locks: string;
  @Field({ description: 'locks released when a lease expired' }) locksReleased: string;
  @Field({ description: 'locked bounties of disputed studies' }) disputes: string;
}

/** Sums per ledger kind (missing kinds are 0) as the GraphQL totals. */
export function ledgerTotals(totals: Partial<Record<string, bigint>>): LedgerTotals {
  const t = (k: string) => (totals[k] ?? 0n).toString();
  return {
    deposits: t('DEPOSIT'),
    withdrawals: t('WITHDRAWAL'),
    escrowed: t('ESCROW'),
    payouts: t('PAYOUT'),
    fees: t('FEE'),
    refunds: t('REFUND'),
    locks: t('LOCK'),
    locksReleased: t('LOCK_RELEASED'),
    disputes: t('DISPUTE'),
  };
}

@ObjectType()
class LedgerPage {
  @Field() roId: string;
  @Field(() => [LedgerEntry]) entries: LedgerEntry[];
  @Field(() => String, { nullable: true, description: 'pass as `after` for the next page' }) endCursor: string | null;
  @Field(() => LedgerTotals, { description: 'over the whole history (or the period), not just this page (confirmed entries, final or pending)' })
  totals: LedgerTotals;
  @Field(() => LedgerTotals, { description: 'the same over FINAL entries only: what no reorg can change any more' })
  finalTotals: LedgerTotals;
}

@Resolver()
export class LedgerResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ledger: LedgerRepository,
    private readonly access: RoAccessService,
    private readonly reconciliation: ReconciliationService,
    private readonly finality: FinalityService,
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
    @Args('from', { type: () => GraphQLISODateTime, nullable: true, description: 'period start (chain time), inclusive' }) from: Date | null,
    @Args('to', { type: () => GraphQLISODateTime, nullable: true, description: 'period end (chain time), inclusive' }) to: Date | null,
  ): Promise<LedgerPage> {
    // billing staff are scoped to their own RO; admins see all
    const { ro: { id: ro }, accounts } = await this.access.billingScope(user.address, ctx.req.roles, roId);
    const period = from || to ? await this.reconciliation.periodBlocks(from ?? new Date(0), to ?? new Date(8.64e15)) : null;
    const blocks = period ? { from: period.fromBlock, to: period.toBlock } : {};
    const limit = parseLimit(first ?? undefined, 500, 100);
    let afterKey: LedgerCursor | undefined;
    if (after) {
      const m = /^(\d+):(\d+):([A-Z_]+):(0x[0-9a-f]{40})$/.exec(after);
      if (!m) throw new OpenReadError('BAD_INPUT', 'after must be a cursor returned as endCursor');
      afterKey = { blockNumber: Number(m[1]), logIndex: Number(m[2]), kind: m[3], account: m[4] };
    }
    const finality = await this.finality.view();
    const finalBlocks = { from: blocks.from, to: Math.min(blocks.to ?? Number.MAX_SAFE_INTEGER, finality.finalizedBlock) };
    const [rows, totals, finalTotals] = await Promise.all([
      this.ledger.entries(this.config.chainId, accounts, limit, afterKey, blocks),
      this.ledger.totals(this.config.chainId, accounts, blocks),
      this.ledger.totals(this.config.chainId, accounts, finalBlocks),
    ]);
    const last = rows.at(-1);
    return {
      roId: ro,
      entries: rows.map((r: LedgerEntryRow) => ({ ...r, amount: r.amount.toString(), time: new Date(r.blockTime * 1000), ...finality.of(r.blockNumber) })),
      endCursor: rows.length === limit && last ? `${last.blockNumber}:${last.logIndex}:${last.kind}:${last.account}` : null,
      totals: ledgerTotals(totals),
      finalTotals: ledgerTotals(finalTotals),
    };
  }
}
