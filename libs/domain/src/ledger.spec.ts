import { describe, expect, it } from 'vitest';
import { LEDGER_EVENTS, LEDGER_KINDS, ledgerLinesOf, needsLeaseBefore, needsStudyBefore } from './ledger.js';

const RO = '0x' + 'a1'.repeat(20);
const RAD = '0x' + 'b2'.repeat(20);
const TREASURY = '0x' + 'c3'.repeat(20);
const STUDY = '0x' + '11'.repeat(32);

describe('ledgerLinesOf: the market events as ledger lines', () => {
  it('maps each event to its lines', () => {
    expect(ledgerLinesOf({ name: 'Deposited', args: { account: RO, amount: '5' } })).toEqual([
      { account: RO, kind: 'DEPOSIT', amount: 5n, studyId: null, counterparty: null },
    ]);
    expect(ledgerLinesOf({ name: 'Withdrawn', args: { account: RO, amount: '2' } })).toEqual([
      { account: RO, kind: 'WITHDRAWAL', amount: 2n, studyId: null, counterparty: null },
    ]);
    expect(ledgerLinesOf({ name: 'StudyPosted', args: { studyId: STUDY, ro: RO, maxBounty: '100' } })).toEqual([
      { account: RO, kind: 'ESCROW', amount: 100n, studyId: STUDY, counterparty: null },
    ]);
    expect(ledgerLinesOf({ name: 'StudyClaimed', args: { studyId: STUDY, ro: RO, radiologist: RAD, bounty: '60' } })).toEqual([
      { account: RO, kind: 'LOCK', amount: 60n, studyId: STUDY, counterparty: RAD },
    ]);
    expect(ledgerLinesOf({ name: 'StudyCancelled', args: { studyId: STUDY, ro: RO, refund: '100' } })).toEqual([
      { account: RO, kind: 'REFUND', amount: 100n, studyId: STUDY, counterparty: null },
    ]);
    expect(ledgerLinesOf({ name: 'ReportSubmitted', args: { studyId: STUDY } })).toEqual([]);
  });

  it('splits a settlement and a dispute resolution the same way', () => {
    const args = { studyId: STUDY, ro: RO, radiologist: RAD, treasury: TREASURY, payout: '57', fee: '3', refund: '40' };
    const lines = [
      { account: RO, kind: 'PAYOUT', amount: 57n, studyId: STUDY, counterparty: RAD },
      { account: RO, kind: 'FEE', amount: 3n, studyId: STUDY, counterparty: TREASURY },
      { account: RO, kind: 'REFUND', amount: 40n, studyId: STUDY, counterparty: null },
    ];
    expect(ledgerLinesOf({ name: 'StudySettled', args })).toEqual(lines);
    expect(ledgerLinesOf({ name: 'DisputeResolved', args: { ...args, resolver: TREASURY } })).toEqual(lines);
  });

  it('needs the study before the event for a released lock and a dispute, and makes no line without it', () => {
    expect(needsStudyBefore('LeaseExpired') && needsStudyBefore('StudyDisputed') && !needsStudyBefore('StudySettled')).toBe(true);
    const before = { ro: RO, radiologist: RAD, lockedBounty: '60' };
    expect(ledgerLinesOf({ name: 'LeaseExpired', args: { studyId: STUDY, radiologist: RAD } }, before)).toEqual([
      { account: RO, kind: 'LOCK_RELEASED', amount: 60n, studyId: STUDY, counterparty: RAD },
    ]);
    expect(ledgerLinesOf({ name: 'StudyDisputed', args: { studyId: STUDY, ro: RO } }, before)).toEqual([
      { account: RO, kind: 'DISPUTE', amount: 60n, studyId: STUDY, counterparty: RAD },
    ]);
    expect(ledgerLinesOf({ name: 'LeaseExpired', args: { studyId: STUDY, radiologist: RAD } })).toEqual([]);
    expect(ledgerLinesOf({ name: 'StudyDisputed', args: { studyId: STUDY, ro: RO } }, null)).toEqual([]);
  });

  it('uses every kind, and only kinds of LEDGER_KINDS, over LEDGER_EVENTS', () => {
    const args = {
      studyId: STUDY,
      ro: RO,
      account: RO,
      radiologist: RAD,
      treasury: TREASURY,
      amount: '1',
      maxBounty: '1',
      bounty: '1',
      payout: '1',
      fee: '1',
      refund: '1',
      requester: RO,
      custodian: RAD,
      toCustodian: '1',
      protocolFee: '1',
      storageShare: '1',
    };
    const before = { ro: RO, radiologist: RAD, lockedBounty: '1', requester: RO, studyId: STUDY, fee: '1' };
    const kinds = new Set(LEDGER_EVENTS.flatMap((name) => ledgerLinesOf({ name, args }, before).map((l) => l.kind)));
    expect([...kinds].sort()).toEqual([...LEDGER_KINDS].sort());
  });

  it("maps the exchange's money: its own balance, a request's escrow, the split of a grant or renewal on both sides, refunds", () => {
    const NRO = RO;
    const ORO = RAD;
    const lease = { requester: NRO, studyId: STUDY, fee: '10' };
    expect(ledgerLinesOf({ name: 'ExchangeDeposited', args: { account: NRO, amount: '50' } })).toEqual([
      { account: NRO, kind: 'EXCHANGE_DEPOSIT', amount: 50n, studyId: null, counterparty: null },
    ]);
    expect(ledgerLinesOf({ name: 'ExchangeWithdrawn', args: { account: ORO, amount: '8' } })).toEqual([
      { account: ORO, kind: 'EXCHANGE_WITHDRAWAL', amount: 8n, studyId: null, counterparty: null },
    ]);
    // the market's Deposited is not the exchange's: the decoder names StudyCustody's ExchangeDeposited
    expect(ledgerLinesOf({ name: 'Deposited', args: { account: NRO, amount: '50' } })[0].kind).toBe('DEPOSIT');
    expect(ledgerLinesOf({ name: 'LeaseRequested', args: { leaseId: '1', studyId: STUDY, requester: NRO, fee: '10' } })).toEqual([
      { account: NRO, kind: 'LEASE_ESCROW', amount: 10n, studyId: STUDY, counterparty: null },
    ]);
    const paid = { leaseId: '1', custodian: ORO, toCustodian: '8', protocolFee: '1', storageShare: '1', treasury: TREASURY };
    expect(ledgerLinesOf({ name: 'LeaseFeePaid', args: paid }, lease)).toEqual([
      { account: NRO, kind: 'LEASE_PAYMENT', amount: 8n, studyId: STUDY, counterparty: ORO },
      { account: NRO, kind: 'LEASE_PROTOCOL_FEE', amount: 1n, studyId: STUDY, counterparty: TREASURY },
      { account: NRO, kind: 'LEASE_STORAGE_SHARE', amount: 1n, studyId: STUDY, counterparty: null },
      { account: ORO, kind: 'LEASE_INCOME', amount: 8n, studyId: STUDY, counterparty: NRO },
    ]);
    expect(ledgerLinesOf({ name: 'LeaseRenewed', args: { leaseId: '1', custodian: ORO, expiresAt: '9', renewalsLeft: 0 } }, lease)).toEqual(
      [{ account: NRO, kind: 'LEASE_ESCROW', amount: 10n, studyId: STUDY, counterparty: ORO }],
    );
    expect(ledgerLinesOf({ name: 'LeaseDenied', args: { leaseId: '1', studyId: STUDY, custodian: ORO, refund: '10' } }, lease)).toEqual([
      { account: NRO, kind: 'LEASE_REFUND', amount: 10n, studyId: STUDY, counterparty: ORO },
    ]);
    expect(ledgerLinesOf({ name: 'LeaseRequestCancelled', args: { leaseId: '1', requester: NRO, refund: '10' } }, lease)).toEqual([
      { account: NRO, kind: 'LEASE_REFUND', amount: 10n, studyId: STUDY, counterparty: null },
    ]);
    // without the lease as requested (an unknown lease) no line is guessed
    expect(needsLeaseBefore('LeaseFeePaid') && !needsLeaseBefore('LeaseRequested')).toBe(true);
    expect(ledgerLinesOf({ name: 'LeaseFeePaid', args: paid }, null)).toEqual([]);
    expect(ledgerLinesOf({ name: 'LeaseGranted', args: { leaseId: '1' } }, lease)).toEqual([]);
  });
});
