import { Inject, Injectable } from '@nestjs/common';
import { Interface, id, zeroPadValue } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import { loadArtifact, OpenReadLogDecoder, JsonRpcClient, RpcLog } from '#chain';
import { LedgerEntryRow, LedgerRepository } from '#db';
import { type DiscrepancyKind, LEDGER_KINDS, type LeaseBefore, LedgerKind, StudyBefore, ledgerLinesOf, needsLeaseBefore } from '#domain';
import { chainUnavailable } from '../common/chain-errors.js';
import { OpenReadError } from '../common/errors.js';

export { LEDGER_KINDS };
export type Totals = Record<LedgerKind, bigint>;

export interface Discrepancy {
  kind: DiscrepancyKind;
  entryKind: string | null;
  account: string | null;
  txHash: string | null;
  logIndex: number | null;
  blockNumber: number | null;
  studyId: string | null;
  ledgerAmount: bigint | null;
  chainAmount: bigint | null;
  detail: string;
}

export interface Reconciliation {
  accounts: string[];
  from: Date;
  to: Date;
  /** first block of the period; the opening state is the one after block fromBlock - 1 */
  fromBlock: number;
  /** last final block of the period: the closing state */
  toBlock: number;
  headBlock: number;
  confirmations: number;
  /**
   * true when the whole period is within the confirmed head (headBlock − confirmations): every event of the period is
   * counted. false: the period reaches into blocks not yet confirmed, whose events are listed as PENDING discrepancies.
   * It says nothing about reorgs: see allEntriesFinal.
   */
  periodClosed: boolean;
  /** the finalized block (headBlock − finality depth, at least 0): no reorg changes a block at or below it */
  finalizedThroughBlock: number;
  /**
   * true only when the whole period is at or below finalizedThroughBlock, so every ledger line of the period is FINAL;
   * false while any of them may still be PENDING (undone by a reorg).
   */
  allEntriesFinal: boolean;
  opening: { balance: bigint; escrow: bigint };
  closing: { balance: bigint; escrow: bigint };
  /** flows re-read from the chain's events for the period */
  chain: Totals & { otherCredits: bigint; tokenIn: bigint; tokenOut: bigint };
  /** flows in the ledger (the indexed projection) for the period */
  ledger: Totals;
  /** opening.balance + deposits − withdrawals − escrowed + refunds + otherCredits == closing.balance, on chain flows */
  balanceIdentityHolds: boolean;
  /** opening.escrow + escrowed − payouts − fees − refunds == closing.escrow, on chain flows */
  escrowIdentityHolds: boolean;
  discrepancies: Discrepancy[];
}

// StudyMarket.Status: Open, Claimed, Reported, Disputed still hold the escrow (None = 0, Settled = 5, Cancelled = 6)
const ESCROWED_STATUSES = new Set([1, 2, 3, 4]);
// StudyCustody.LeaseStatus: a Requested lease holds its fee in escrow
const LEASE_REQUESTED = 1;
const TRANSFER = id('Transfer(address,address,uint256)');

export const zeroTotals = (): Totals => Object.fromEntries(LEDGER_KINDS.map((k) => [k, 0n])) as Totals;
export function sumByKind(lines: Pick<LedgerEntryRow, 'kind' | 'amount'>[]): Totals {
  const t = zeroTotals();
  for (const l of lines) t[l.kind as LedgerKind] += l.amount;
  return t;
}

/**
 * Reconciles an RO's ledger (Postgres, built by the indexer) against the chain for a period: re-reads the
 * market's events and the token's Transfers to/from the market over RPC, reads the market balances and the
 * escrow of the RO's studies at the period's ends, and lists every difference.
 *
 * The accounting (StudyMarket.sol): an account's market balance changes only by
 *   + Deposited (amount received)  − Withdrawn  − StudyPosted.maxBounty (escrow)  + StudySettled.refund
 *   + StudyCancelled.refund  (+ payout/fee if the account is the radiologist/treasury of a settlement: otherCredits);
 * the RO's escrow (maxBounty of its studies neither Settled nor Cancelled) changes by
 *   + StudyPosted.maxBounty  − StudySettled.(payout + fee + refund)  − StudyCancelled.refund,
 * since a settlement splits exactly maxBounty (payout + fee = lockedBounty, refund = maxBounty − lockedBounty).
 * LOCK, LOCK_RELEASED and DISPUTE move nothing: they are informational lines.
 *
 * The exchange (StudyCustody, when configured) keeps balances of its own, read and checked the same way and added in:
 * its balance changes by + ExchangeDeposited − ExchangeWithdrawn − LEASE_ESCROW (a request's fee, a renewal's charge)
 * + LEASE_REFUND + LEASE_INCOME (+ a protocol fee if the account is the treasury: otherCredits); the fees held for the
 * RO's requested leases by + LEASE_ESCROW − LEASE_PAYMENT − LEASE_PROTOCOL_FEE − LEASE_STORAGE_SHARE − LEASE_REFUND.
 */
@Injectable()
export class ReconciliationService {
  private readonly rpc: JsonRpcClient;
  private readonly decoder: OpenReadLogDecoder;
  private readonly market = new Interface(loadArtifact('StudyMarket').abi);
  private readonly custody = new Interface(loadArtifact('StudyCustody').abi);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ledger: LedgerRepository,
  ) {
    // a request path: one attempt per call within the dependency deadline (the client retries, told by CHAIN_UNAVAILABLE)
    this.rpc = new JsonRpcClient(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs, attempts: 1 });
    this.decoder = new OpenReadLogDecoder(config.contracts);
  }

  /** The blocks of a period: the first block at or after `from`, the last block at or before `to`. */
  async periodBlocks(from: Date, to: Date): Promise<{ fromBlock: number; toBlock: number; head: number }> {
    if (!(from.getTime() <= to.getTime())) throw new OpenReadError('BAD_INPUT', 'from must not be after to');
    const head = await this.chain(() => this.rpc.blockNumber());
    const lo = this.config.contracts.deployBlock;
    const fromSec = Math.ceil(from.getTime() / 1000);
    const toSec = Math.floor(to.getTime() / 1000);
    // first block with timestamp >= fromSec (head + 1 if none); then last with timestamp <= toSec
    const fromBlock = await this.firstBlock(lo, head, (t) => t >= fromSec);
    const toBlock = (await this.firstBlock(lo, head, (t) => t > toSec)) - 1;
    return { fromBlock, toBlock, head };
  }

  private async firstBlock(lo: number, hi: number, pred: (timestamp: number) => boolean): Promise<number> {
    let a = lo;
    let b = hi + 1; // invariant: answer in [a, b]
    while (a < b) {
      const mid = Math.floor((a + b) / 2);
      const t = Number((await this.chain(() => this.rpc.block(mid))).timestamp);
      if (pred(t)) b = mid;
      else a = mid + 1;
    }
    return a;
  }

  private async chain<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof OpenReadError) throw e;
      throw chainUnavailable('the chain could not be read; try again');
    }
  }

  async reconcile(accounts: string[], from: Date, to: Date): Promise<Reconciliation> {
    const { fromBlock, toBlock: requestedTo, head } = await this.periodBlocks(from, to);
    const confirmations = this.config.indexer.confirmations;
    const finalHead = head - confirmations;
    const toBlock = Math.min(requestedTo, finalHead);
    const finalizedThroughBlock = Math.max(0, head - this.config.indexer.finalityDepth);
    const wallets = accounts.map((a) => a.toLowerCase());
    const mine = new Set(wallets);
    const c = this.config.contracts;

    const result = await this.chain(async () => {
      // every study the RO's wallets ever posted up to the period's end (topic 2 of StudyPosted is the RO)
      const posted = wallets.length
        ? await this.rpc.filterLogs({
            address: c.market,
            topics: [this.market.getEvent('StudyPosted')!.topicHash, null, wallets.map(topic)],
            fromBlock: c.deployBlock,
            toBlock: Math.max(requestedTo, c.deployBlock),
          })
        : [];
      const studyBlock = new Map(posted.map((l) => [l.topics[1].toLowerCase(), Number(l.blockNumber)]));
      const studyRo = new Map(posted.map((l) => [l.topics[1].toLowerCase(), `0x${l.topics[2].slice(26)}`.toLowerCase()]));

      // every lease the RO's wallets ever requested up to the period's end (topic 3 of LeaseRequested is the requester)
      const requested =
        c.studyCustody && wallets.length
          ? await this.rpc.filterLogs({
              address: c.studyCustody,
              topics: [this.custody.getEvent('LeaseRequested')!.topicHash, null, null, wallets.map(topic)],
              fromBlock: c.deployBlock,
              toBlock: Math.max(requestedTo, c.deployBlock),
            })
          : [];
      const leaseBlock = new Map(requested.map((l) => [BigInt(l.topics[1]).toString(), Number(l.blockNumber)]));

      const periodLogs =
        requestedTo >= fromBlock
          ? await this.rpc.logs([c.market, ...(c.studyCustody ? [c.studyCustody] : [])], fromBlock, requestedTo)
          : [];
      const leases = await this.leasesAsRequested(periodLogs);
      const chainLines: LedgerEntryRow[] = [];
      let otherCredits = 0n;
      for (const log of periodLogs) {
        const ev = this.decoder.decode(log);
        if (!ev) continue;
        const a = ev.args;
        const studyId = typeof a.studyId === 'string' ? a.studyId : null;
        // the study as it was before the event, for the lines that need it (only when the line would be ours)
        let before: StudyBefore | LeaseBefore | null = null;
        if (needsLeaseBefore(ev.name)) {
          before = leases.get(String(a.leaseId)) ?? null;
        } else if (ev.name === 'LeaseExpired') {
          const owner = studyId ? studyRo.get(studyId) : undefined;
          if (owner) before = { ro: owner, radiologist: null, lockedBounty: await this.lastLock(studyId!, log) };
        } else if (ev.name === 'StudyDisputed' && mine.has(String(a.ro))) {
          const [s] = await this.studiesAt([studyId!], Number(log.blockNumber));
          before = { ro: String(a.ro), radiologist: s.radiologist, lockedBounty: s.lockedBounty };
        }
        for (const l of ledgerLinesOf(ev, before))
          if (mine.has(l.account))
            chainLines.push({
              ...l,
              txHash: log.transactionHash.toLowerCase(),
              logIndex: Number(log.logIndex),
              blockNumber: Number(log.blockNumber),
              blockTime: 0,
            });
        // a settlement (or a dispute's resolution) credits the radiologist's and the treasury's market balances
        if (ev.name === 'StudySettled' || ev.name === 'DisputeResolved') {
          if (mine.has(String(a.radiologist))) otherCredits += BigInt(String(a.payout));
          if (mine.has(String(a.treasury))) otherCredits += BigInt(String(a.fee));
        }
        if (ev.name === 'LeaseFeePaid' && mine.has(String(a.treasury))) otherCredits += BigInt(String(a.protocolFee));
      }
      const finalLines = chainLines.filter((l) => l.blockNumber <= toBlock);
      const pendingLines = chainLines.filter((l) => l.blockNumber > toBlock);

      // token Transfers between the RO's wallets and the market (and the exchange)
      const holders = [c.market, ...(c.studyCustody ? [c.studyCustody] : [])].map(topic);
      const transfers =
        wallets.length && toBlock >= fromBlock
          ? [
              ...(await this.rpc.filterLogs({
                address: c.token,
                topics: [TRANSFER, wallets.map(topic), holders],
                fromBlock,
                toBlock,
              })),
              ...(await this.rpc.filterLogs({
                address: c.token,
                topics: [TRANSFER, holders, wallets.map(topic)],
                fromBlock,
                toBlock,
              })),
            ]
          : [];

      const state = async (block: number) => {
        if (block < c.deployBlock) return { balance: 0n, escrow: 0n };
        const balances = await Promise.all(wallets.map((w) => this.balanceOf(w, block)));
        const live = [...studyBlock].filter(([, b]) => b <= block).map(([s]) => s);
        const studies = await this.studiesAt(live, block);
        const openLeases = await this.leasesAt(
          [...leaseBlock].filter(([, b]) => b <= block).map(([l]) => l),
          block,
        );
        return {
          balance: balances.reduce((x, y) => x + y, 0n),
          escrow:
            studies.filter((s) => ESCROWED_STATUSES.has(s.status)).reduce((x, s) => x + s.maxBounty, 0n) +
            openLeases.filter((l) => l.status === LEASE_REQUESTED).reduce((x, l) => x + l.fee, 0n),
        };
      };
      const [opening, closing] = await Promise.all([state(fromBlock - 1), state(Math.max(toBlock, fromBlock - 1))]);
      return { finalLines, pendingLines, transfers, otherCredits, opening, closing };
    });

    const ledgerRows = toBlock >= fromBlock ? await this.ledger.between(this.config.chainId, wallets, fromBlock, toBlock) : [];
    const discrepancies: Discrepancy[] = [];
    matchLines(result.finalLines, ledgerRows, discrepancies);
    for (const p of result.pendingLines)
      discrepancies.push(
        disc('PENDING', p, { chainAmount: p.amount, detail: `block ${p.blockNumber} has fewer than ${confirmations} confirmations` }),
      );
    const { tokenIn, tokenOut } = matchTransfers(
      result.finalLines,
      result.transfers,
      new Set(wallets),
      { market: c.market.toLowerCase(), exchange: c.studyCustody?.toLowerCase() ?? null },
      discrepancies,
    );

    const chain = sumByKind(result.finalLines);
    const ledger = sumByKind(ledgerRows);
    const { opening, closing, otherCredits } = result;
    const balanceFlow = (t: Totals) =>
      t.DEPOSIT -
      t.WITHDRAWAL -
      t.ESCROW +
      t.REFUND +
      (t.EXCHANGE_DEPOSIT - t.EXCHANGE_WITHDRAWAL - t.LEASE_ESCROW + t.LEASE_REFUND + t.LEASE_INCOME);
    const escrowFlow = (t: Totals) =>
      t.ESCROW -
      t.PAYOUT -
      t.FEE -
      t.REFUND +
      (t.LEASE_ESCROW - t.LEASE_PAYMENT - t.LEASE_PROTOCOL_FEE - t.LEASE_STORAGE_SHARE - t.LEASE_REFUND);
    const balanceIdentityHolds = opening.balance + balanceFlow(chain) + otherCredits === closing.balance;
    const escrowIdentityHolds = opening.escrow + escrowFlow(chain) === closing.escrow;
    if (!balanceIdentityHolds || !escrowIdentityHolds)
      discrepancies.push({
        ...emptyDisc('IDENTITY_BROKEN'),
        detail: `the chain's own events do not explain the ${balanceIdentityHolds ? 'escrow' : 'balance'}: an event outside the accounting model`,
      });
    const ledgerBalance = opening.balance + balanceFlow(ledger) + otherCredits;
    if (ledgerBalance !== closing.balance)
      discrepancies.push({
        ...emptyDisc('BALANCE_MISMATCH'),
        entryKind: 'BALANCE',
        ledgerAmount: ledgerBalance,
        chainAmount: closing.balance,
        detail: 'closing market balance: opening + ledger flows ≠ balanceOf on chain',
      });
    const ledgerEscrow = opening.escrow + escrowFlow(ledger);
    if (ledgerEscrow !== closing.escrow)
      discrepancies.push({
        ...emptyDisc('BALANCE_MISMATCH'),
        entryKind: 'ESCROW',
        ledgerAmount: ledgerEscrow,
        chainAmount: closing.escrow,
        detail: 'closing escrow: opening + ledger flows ≠ escrow of open studies on chain',
      });

    return {
      accounts: wallets,
      from,
      to,
      fromBlock,
      toBlock,
      headBlock: head,
      confirmations,
      periodClosed: requestedTo <= finalHead,
      finalizedThroughBlock,
      allEntriesFinal: requestedTo <= finalizedThroughBlock,
      opening,
      closing,
      chain: { ...chain, otherCredits, tokenIn, tokenOut },
      ledger,
      balanceIdentityHolds,
      escrowIdentityHolds,
      discrepancies,
    };
  }

  /** The account's market balance plus (when configured) its exchange balance. */
  private async balanceOf(account: string, block: number): Promise<bigint> {
    const out = await this.rpc.ethCall(this.config.contracts.market, this.market.encodeFunctionData('balanceOf', [account]), block);
    const market = out === '0x' ? 0n : (this.market.decodeFunctionResult('balanceOf', out)[0] as bigint);
    const custody = this.config.contracts.studyCustody;
    if (!custody) return market;
    const ex = await this.rpc.ethCall(custody, this.custody.encodeFunctionData('balanceOf', [account]), block);
    return market + (ex === '0x' ? 0n : (this.custody.decodeFunctionResult('balanceOf', ex)[0] as bigint));
  }

  /** The leases as StudyCustody holds them at the end of `block` (status and fee), in JSON-RPC batches. */
  private async leasesAt(leaseIds: string[], block: number): Promise<{ status: number; fee: bigint }[]> {
    const custody = this.config.contracts.studyCustody;
    if (!custody || !leaseIds.length) return [];
    const outs = await this.rpc.ethCalls(
      leaseIds.map((id) => ({ to: custody, data: this.custody.encodeFunctionData('leaseOf', [id]) })),
      block,
    );
    return outs.map((out) => {
      const v = this.custody.decodeFunctionResult('leaseOf', out)[0];
      return { status: Number(v.status), fee: v.fee as bigint };
    });
  }

  /** The leases of the period's exchange events whose lines need them, as requested (their LeaseRequested logs). */
  private async leasesAsRequested(logs: RpcLog[]): Promise<Map<string, LeaseBefore>> {
    const custody = this.config.contracts.studyCustody?.toLowerCase();
    const out = new Map<string, LeaseBefore>();
    if (!custody) return out;
    const ids = new Set<string>();
    for (const log of logs) {
      if (log.address.toLowerCase() !== custody) continue;
      const ev = this.decoder.decode(log);
      if (ev && needsLeaseBefore(ev.name)) ids.add(log.topics[1].toLowerCase());
    }
    if (!ids.size) return out;
    const requests = await this.rpc.filterLogs({
      address: custody,
      topics: [this.custody.getEvent('LeaseRequested')!.topicHash, [...ids]],
      fromBlock: this.config.contracts.deployBlock,
      toBlock: Math.max(...logs.map((l) => Number(l.blockNumber))),
    });
    for (const r of requests) {
      const ev = this.decoder.decode(r);
      if (ev)
        out.set(String(ev.args.leaseId), {
          requester: String(ev.args.requester),
          studyId: String(ev.args.studyId),
          fee: String(ev.args.fee),
        });
    }
    return out;
  }

  /** The studies as the market holds them at the end of `block`: getStudy in JSON-RPC batches (one round trip per 200). */
  private async studiesAt(
    studyIds: string[],
    block: number,
  ): Promise<{ ro: string; radiologist: string; status: number; maxBounty: bigint; lockedBounty: bigint }[]> {
    const market = this.config.contracts.market;
    const outs = await this.rpc.ethCalls(
      studyIds.map((id) => ({ to: market, data: this.market.encodeFunctionData('getStudy', [id]) })),
      block,
    );
    return outs.map((out) => {
      const v = this.market.decodeFunctionResult('getStudy', out)[0];
      return {
        ro: String(v.ro).toLowerCase(),
        radiologist: String(v.radiologist).toLowerCase(),
        status: Number(v.status),
        maxBounty: v.maxBounty,
        lockedBounty: v.lockedBounty,
      };
    });
  }

  /** The bounty of the study's claim that a LeaseExpired log releases: its latest StudyClaimed before the log. */
  private async lastLock(studyId: string, log: RpcLog): Promise<bigint> {
    const claims = await this.rpc.filterLogs({
      address: this.config.contracts.market,
      topics: [this.market.getEvent('StudyClaimed')!.topicHash, studyId],
      fromBlock: this.config.contracts.deployBlock,
      toBlock: Number(log.blockNumber),
    });
    const [block, index] = [Number(log.blockNumber), Number(log.logIndex)];
    const before = claims.filter((l) => Number(l.blockNumber) < block || (Number(l.blockNumber) === block && Number(l.logIndex) < index));
    const last = before.at(-1);
    return last ? BigInt(String(this.decoder.decode(last)!.args.bounty)) : 0n;
  }
}

const topic = (address: string) => zeroPadValue(address.toLowerCase(), 32);
const key = (l: Pick<LedgerEntryRow, 'txHash' | 'logIndex' | 'kind'>) => `${l.txHash.toLowerCase()}:${l.logIndex}:${l.kind}`;

const emptyDisc = (kind: DiscrepancyKind): Discrepancy => ({
  kind,
  entryKind: null,
  account: null,
  txHash: null,
  logIndex: null,
  blockNumber: null,
  studyId: null,
  ledgerAmount: null,
  chainAmount: null,
  detail: '',
});
const disc = (kind: DiscrepancyKind, l: LedgerEntryRow, more: Partial<Discrepancy>): Discrepancy => ({
  ...emptyDisc(kind),
  entryKind: l.kind,
  account: l.account,
  txHash: l.txHash,
  logIndex: l.logIndex,
  blockNumber: l.blockNumber,
  studyId: l.studyId,
  ...more,
});

/** Ledger lines against the chain's, by (tx, log index, kind). */
function matchLines(chain: LedgerEntryRow[], ledger: LedgerEntryRow[], out: Discrepancy[]) {
  const byKey = new Map<string, LedgerEntryRow[]>();
  for (const r of ledger) byKey.set(key(r), [...(byKey.get(key(r)) ?? []), r]);
  const seen = new Set<string>();
  for (const c of chain) {
    const k = key(c);
    seen.add(k);
    const rows = byKey.get(k) ?? [];
    if (rows.length === 0) {
      out.push(disc('MISSING', c, { chainAmount: c.amount, detail: 'an event on chain has no ledger line' }));
      continue;
    }
    if (rows.length > 1)
      out.push(
        disc('DUPLICATE', c, {
          chainAmount: c.amount,
          ledgerAmount: rows.reduce((x, r) => x + r.amount, 0n),
          detail: `${rows.length} ledger lines for one event`,
        }),
      );
    const r = rows[0];
    if (r.amount !== c.amount)
      out.push(
        disc('AMOUNT_MISMATCH', c, { ledgerAmount: r.amount, chainAmount: c.amount, detail: 'the ledger amount differs from the event' }),
      );
    const fields = (['account', 'studyId', 'counterparty', 'blockNumber'] as const).filter(
      (f) => String(r[f] ?? '').toLowerCase() !== String(c[f] ?? '').toLowerCase(),
    );
    if (fields.length)
      out.push(disc('FIELD_MISMATCH', c, { ledgerAmount: r.amount, chainAmount: c.amount, detail: `differs: ${fields.join(', ')}` }));
  }
  for (const [k, rows] of byKey)
    if (!seen.has(k))
      for (const r of rows)
        out.push(disc('NOT_ON_CHAIN', r, { ledgerAmount: r.amount, detail: 'a ledger line with no such event on chain' }));
}

const TRANSFER_DETAIL: Record<string, string> = {
  DEPOSIT: 'market credit ≠ tokens transferred to the market',
  WITHDRAWAL: 'market debit ≠ tokens transferred from the market',
  EXCHANGE_DEPOSIT: 'exchange credit ≠ tokens transferred to the exchange',
  EXCHANGE_WITHDRAWAL: 'exchange debit ≠ tokens transferred from the exchange',
};

/** Market- (and exchange-) credited deposits and withdrawals against the token's Transfers, per transaction and wallet. */
function matchTransfers(
  chain: LedgerEntryRow[],
  transfers: RpcLog[],
  wallets: Set<string>,
  holders: { market: string; exchange: string | null },
  out: Discrepancy[],
) {
  const credited = new Map<string, bigint>();
  const moved = new Map<string, bigint>();
  const add = (m: Map<string, bigint>, k: string, v: bigint) => m.set(k, (m.get(k) ?? 0n) + v);
  const FLOW_KINDS = new Set(['DEPOSIT', 'WITHDRAWAL', 'EXCHANGE_DEPOSIT', 'EXCHANGE_WITHDRAWAL']);
  for (const l of chain) if (FLOW_KINDS.has(l.kind)) add(credited, `${l.txHash}|${l.account}|${l.kind}`, l.amount);
  const { market, exchange } = holders;
  let tokenIn = 0n;
  let tokenOut = 0n;
  const blockOf = new Map<string, number>();
  for (const t of transfers) {
    const from = `0x${t.topics[1].slice(26)}`.toLowerCase();
    const to = `0x${t.topics[2].slice(26)}`.toLowerCase();
    const value = BigInt(t.data);
    const tx = t.transactionHash.toLowerCase();
    blockOf.set(tx, Number(t.blockNumber));
    if ((to === market || to === exchange) && wallets.has(from)) {
      tokenIn += value;
      add(moved, `${tx}|${from}|${to === market ? 'DEPOSIT' : 'EXCHANGE_DEPOSIT'}`, value);
    } else if ((from === market || from === exchange) && wallets.has(to)) {
      tokenOut += value;
      add(moved, `${tx}|${to}|${from === market ? 'WITHDRAWAL' : 'EXCHANGE_WITHDRAWAL'}`, value);
    }
  }
  for (const k of new Set([...credited.keys(), ...moved.keys()])) {
    const [txHash, account, kind] = k.split('|');
    const a = credited.get(k) ?? 0n;
    const b = moved.get(k) ?? 0n;
    if (a !== b)
      out.push({
        ...emptyDisc('TRANSFER_MISMATCH'),
        entryKind: kind,
        account,
        txHash,
        blockNumber: blockOf.get(txHash) ?? null,
        ledgerAmount: a,
        chainAmount: b,
        detail: TRANSFER_DETAIL[kind],
      });
  }
  return { tokenIn, tokenOut };
}
