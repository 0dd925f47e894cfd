import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { LedgerCursor, LedgerEntryRow, LedgerRepository } from '#db';
import type { Role } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import { parseLimit } from '../common/validation.js';
import { FinalityService } from '../indexer/index.js';
import { RoAccessService } from '../ro/index.js';
import { type LedgerPage, type MonthlyStatement, type ReconciliationReport, ledgerTotals, toReport } from './billing.models.js';
import { ledgerCsv, reconciliationCsv } from './csv.js';
import { ReconciliationService } from './reconciliation.service.js';

/** The month `YYYY-MM` (UTC) as a closed period of chain time. */
export function monthPeriod(month: string): { from: Date; to: Date } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) throw new OpenReadError('BAD_INPUT', 'month must be YYYY-MM');
  const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  const to = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1) - 1);
  return { from, to };
}

/** Who asks: their account and roles (billing staff are scoped to their own RO; admins see all). */
export interface Caller {
  address: string;
  roles: ReadonlySet<Role> | undefined;
}

/** An RO's ledger, its reconciliation against the chain and their exports, for the RO's billing staff (and admins). */
@Injectable()
export class BillingService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly access: RoAccessService,
    private readonly reconciler: ReconciliationService,
    private readonly ledger: LedgerRepository,
    private readonly finality: FinalityService,
  ) {}

  async roLedger(
    caller: Caller,
    roId: string,
    first: number | null,
    after: string | null,
    from: Date | null,
    to: Date | null,
  ): Promise<LedgerPage> {
    const {
      ro: { id: ro },
      accounts,
    } = await this.access.billingScope(caller.address, caller.roles, roId);
    const period = from || to ? await this.reconciler.periodBlocks(from ?? new Date(0), to ?? new Date(8.64e15)) : null;
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
      entries: rows.map((r: LedgerEntryRow) => ({
        ...r,
        amount: r.amount.toString(),
        time: new Date(r.blockTime * 1000),
        ...finality.of(r.blockNumber),
      })),
      endCursor: rows.length === limit && last ? `${last.blockNumber}:${last.logIndex}:${last.kind}:${last.account}` : null,
      totals: ledgerTotals(totals),
      finalTotals: ledgerTotals(finalTotals),
    };
  }

  async reconciliation(caller: Caller, roId: string, from: Date, to: Date): Promise<ReconciliationReport> {
    const { ro, accounts } = await this.access.billingScope(caller.address, caller.roles, roId);
    return toReport(ro.id, await this.reconciler.reconcile(accounts, from, to));
  }

  async ledgerCsv(caller: Caller, roId: string, from: Date, to: Date): Promise<string> {
    const { accounts } = await this.access.billingScope(caller.address, caller.roles, roId);
    const { fromBlock, toBlock } = await this.reconciler.periodBlocks(from, to);
    return ledgerCsv(await this.ledger.between(this.config.chainId, accounts, fromBlock, toBlock));
  }

  async reconciliationCsv(caller: Caller, roId: string, from: Date, to: Date): Promise<string> {
    const { accounts } = await this.access.billingScope(caller.address, caller.roles, roId);
    return reconciliationCsv(await this.reconciler.reconcile(accounts, from, to));
  }

  async monthlyStatement(caller: Caller, roId: string, month: string): Promise<MonthlyStatement> {
    const { from, to } = monthPeriod(month);
    const { ro, accounts } = await this.access.billingScope(caller.address, caller.roles, roId);
    const r = await this.reconciler.reconcile(accounts, from, to);
    const rows = r.toBlock >= r.fromBlock ? await this.ledger.between(this.config.chainId, accounts, r.fromBlock, r.toBlock) : [];
    return {
      roId: ro.id,
      roName: ro.name,
      month,
      reconciliation: toReport(ro.id, r),
      ledgerCsv: ledgerCsv(rows),
      reconciliationCsv: reconciliationCsv(r),
    };
  }
}
