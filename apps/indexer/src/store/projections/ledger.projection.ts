import type { EntityManager } from 'typeorm';
import { copyRows } from '../copy.js';
import { type LedgerRow, type Projection, type Runner, linesOf } from './projection.js';

/**
 * `ledger_entries`: rows per event, not per entity (a rollback deletes them by block). The study projections
 * collect their lines as they run; deposits and withdrawals (the market's and the exchange's) only make lines. All are inserted once per batch,
 * after every run (nothing in a batch reads them); they belong to new events only, so a conflict is an error.
 */
const ledgerOnly: Runner = async (_tx, _chainId, run, ledger) => {
  for (const e of run) linesOf(ledger, e);
};

export const ledgerProjection: Projection = {
  events: ['Deposited', 'Withdrawn', 'ExchangeDeposited', 'ExchangeWithdrawn'],
  runners: { Deposited: ledgerOnly, Withdrawn: ledgerOnly, ExchangeDeposited: ledgerOnly, ExchangeWithdrawn: ledgerOnly },
};

export async function insertLedgerRows(tx: EntityManager, chainId: number, ledger: LedgerRow[]): Promise<void> {
  await copyRows(
    tx,
    'ledger_entries',
    ['chain_id', 'account', 'kind', 'amount', 'study_id', 'counterparty', 'tx_hash', 'log_index', 'block_number', 'block_time'],
    ledger.map((l) => [
      chainId,
      l.account,
      l.kind,
      l.amount.toString(),
      l.studyId,
      l.counterparty,
      l.e.txHash,
      l.e.logIndex,
      l.e.blockNumber,
      l.e.blockTime,
    ]),
  );
}
