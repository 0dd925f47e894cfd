import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { TreasuryRepository, type TreasuryProposalRow, type TreasuryStatus } from '#db';
import { OpenReadError } from '../common/errors.js';
import { parseAddress, parseAmount, parseLimit, parseSignature } from '../common/validation.js';
import type { Treasury, TreasuryExecution, TreasuryPaymentInput, TreasuryProposal } from './treasury.models.js';
import { TreasuryService } from './treasury.service.js';

/**
 * Treasury payouts as the API answers them: the checks of a proposal and of an owner's signature, the proposals as
 * indexed and reconciled with the Safe (TreasuryService talks to the Safe and sends its transactions).
 */
@Injectable()
export class TreasuryPayoutsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly treasury: TreasuryService,
    private readonly repo: TreasuryRepository,
  ) {}

  async overview(): Promise<Treasury> {
    const s = await this.treasury.safe();
    const b = await this.treasury.balances(s.address);
    return {
      safe: s.address,
      owners: s.owners,
      threshold: s.threshold,
      nonce: b.nonce.toString(),
      marketBalance: b.marketBalance.toString(),
      tokenBalance: b.tokenBalance.toString(),
    };
  }

  async proposals(status: TreasuryStatus | null, first: number | null): Promise<TreasuryProposal[]> {
    const s = await this.treasury.safe();
    await this.treasury.reconcile(s.address);
    const rows = await this.repo.proposals(this.config.chainId, s.address, status, parseLimit(first ?? undefined));
    return rows.map((r) => this.toModel(r));
  }

  async proposal(id: string): Promise<TreasuryProposal> {
    return this.toModel(await this.treasury.load(id));
  }

  async propose(proposer: string, input: TreasuryPaymentInput[], description: string, replaces: string | null): Promise<TreasuryProposal> {
    if (input.length === 0 || input.length > 20) throw new OpenReadError('BAD_INPUT', 'payments: between 1 and 20');
    if (description.trim().length === 0 || description.length > 2000)
      throw new OpenReadError('BAD_INPUT', 'description: 1 to 2,000 characters');
    const payments = input.map((p, i) => {
      const amount = parseAmount(p.amount, `payments[${i}].amount`);
      if (amount === 0n) throw new OpenReadError('BAD_INPUT', `payments[${i}].amount must be positive`);
      return { to: parseAddress(p.to, `payments[${i}].to`), amount: amount.toString() };
    });
    const replaced = replaces ? await this.treasury.load(replaces) : null;
    const id = await this.treasury.propose(proposer, payments, description, replaced);
    return this.proposal(id);
  }

  async sign(owner: string, id: string, signature: string): Promise<TreasuryProposal> {
    parseSignature(signature);
    const p = await this.treasury.load(id);
    if (p.status !== 'PENDING') throw new OpenReadError('CONFLICT', `the proposal is ${p.status.toLowerCase()}`, { reason: p.status });
    const normalised = await this.treasury.verifySignature(p, owner, signature);
    if (!(await this.repo.addSignature(p.id, owner, normalised)))
      throw new OpenReadError('CONFLICT', 'you have already signed this proposal', { reason: 'ALREADY_SIGNED' });
    return this.proposal(id);
  }

  async execute(id: string): Promise<TreasuryExecution> {
    const sent = await this.treasury.execute(id);
    return { ...sent, proposal: await this.proposal(id) };
  }

  private toModel(r: TreasuryProposalRow): TreasuryProposal {
    return {
      id: r.id,
      safe: r.safe,
      nonce: r.nonce.toString(),
      safeTxHash: r.safeTxHash,
      ...this.treasury.typedData(r),
      to: r.to,
      value: r.value.toString(),
      data: r.data,
      operation: r.operation,
      payments: r.payments,
      description: r.description,
      proposer: r.proposer,
      replaces: r.replaces,
      status: r.status,
      executedTx: r.executedTx,
      signatures: r.signatures,
      createdAt: r.createdAt,
    };
  }
}
