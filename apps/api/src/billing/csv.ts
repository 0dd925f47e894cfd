import type { LedgerEntryRow } from '#db';
import { LEDGER_KINDS, Reconciliation } from './reconciliation.service.js';

/** Stable CSV columns (documented in docs/api/ro-billing.md); new columns are only ever appended. */
export const LEDGER_CSV_COLUMNS = [
  'time',
  'block_number',
  'tx_hash',
  'log_index',
  'account',
  'kind',
  'amount',
  'study_id',
  'counterparty',
] as const;
export const RECONCILIATION_CSV_COLUMNS = [
  'record',
  'kind',
  'entry_kind',
  'account',
  'tx_hash',
  'log_index',
  'block_number',
  'study_id',
  'ledger_amount',
  'chain_amount',
  'detail',
] as const;

type Cell = string | number | bigint | null | undefined;
const cell = (v: Cell) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csv = (header: readonly string[], rows: Cell[][]) =>
  [header.join(','), ...rows.map((r) => r.map(cell).join(','))].join('\r\n') + '\r\n';

export function ledgerCsv(rows: LedgerEntryRow[]): string {
  return csv(
    LEDGER_CSV_COLUMNS,
    rows.map((r) => [
      new Date(r.blockTime * 1000).toISOString(),
      r.blockNumber,
      r.txHash,
      r.logIndex,
      r.account,
      r.kind,
      r.amount,
      r.studyId,
      r.counterparty,
    ]),
  );
}

export function reconciliationCsv(r: Reconciliation): string {
  const rows: Cell[][] = [
    ['PERIOD', 'FROM', null, null, null, null, r.fromBlock, null, null, null, r.from.toISOString()],
    [
      'PERIOD',
      'TO',
      null,
      null,
      null,
      null,
      r.toBlock,
      null,
      null,
      null,
      `${r.to.toISOString()}${!r.periodClosed ? ' (period not closed: newest blocks not counted yet)' : r.allEntriesFinal ? '' : ' (entries not final yet)'}`,
    ],
    ['BALANCE', 'OPENING_BALANCE', null, null, null, null, r.fromBlock - 1, null, null, r.opening.balance, null],
    ['BALANCE', 'OPENING_ESCROW', null, null, null, null, r.fromBlock - 1, null, null, r.opening.escrow, null],
    ...LEDGER_KINDS.map((k): Cell[] => ['TOTAL', k, null, null, null, null, null, null, r.ledger[k], r.chain[k], null]),
    [
      'TOTAL',
      'OTHER_CREDITS',
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      r.chain.otherCredits,
      'payouts/fees credited to the RO wallets as radiologist/treasury',
    ],
    ['TOTAL', 'TOKEN_IN', null, null, null, null, null, null, null, r.chain.tokenIn, 'token Transfers wallets → market'],
    ['TOTAL', 'TOKEN_OUT', null, null, null, null, null, null, null, r.chain.tokenOut, 'token Transfers market → wallets'],
    ['BALANCE', 'CLOSING_BALANCE', null, null, null, null, r.toBlock, null, null, r.closing.balance, null],
    ['BALANCE', 'CLOSING_ESCROW', null, null, null, null, r.toBlock, null, null, r.closing.escrow, null],
    ...r.discrepancies.map((d): Cell[] => [
      'DISCREPANCY',
      d.kind,
      d.entryKind,
      d.account,
      d.txHash,
      d.logIndex,
      d.blockNumber,
      d.studyId,
      d.ledgerAmount,
      d.chainAmount,
      d.detail,
    ]),
  ];
  return csv(RECONCILIATION_CSV_COLUMNS, rows);
}
