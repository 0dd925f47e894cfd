import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { TreasuryRepository, type TreasuryProposalRow, type TreasuryStatus } from '#db';
import { Inject } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { CurrentUser, Roles, type AuthUser } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import { parseAddress, parseAmount, parseLimit, parseSignature } from '../common/validation.js';
import { Treasury, TreasuryExecution, TreasuryPaymentInput, TreasuryProposal, TreasuryProposalStatus } from './treasury.models.js';
import { TreasuryService } from './treasury.service.js';

/**
 * The treasury Safe over GraphQL, for its owners (TREASURY_OWNER: the Safe's getOwners on chain): payout proposals,
 * owners' signatures over the SafeTx hash, execution at threshold by the service's relayer. DAO members may read.
 */
@Resolver(() => TreasuryProposal)
export class TreasuryResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly service: TreasuryService,
    private readonly repo: TreasuryRepository,
  ) {}

  @Roles('TREASURY_OWNER', 'DAO_MEMBER')
  @Query(() => Treasury, { description: 'The treasury Safe: owners, threshold, nonce, balances.' })
  async treasury(): Promise<Treasury> {
    const s = await this.service.safe();
    const b = await this.service.balances(s.address);
    return { safe: s.address, owners: s.owners, threshold: s.threshold, nonce: b.nonce.toString(), marketBalance: b.marketBalance.toString(), tokenBalance: b.tokenBalance.toString() };
  }

  @Roles('TREASURY_OWNER', 'DAO_MEMBER')
  @Query(() => [TreasuryProposal], { description: 'Payout proposals of the treasury Safe, newest first.' })
  async treasuryProposals(
    @Args('status', { type: () => TreasuryProposalStatus, nullable: true }) status: TreasuryStatus | null,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
  ): Promise<TreasuryProposal[]> {
    const s = await this.service.safe();
    await this.service.reconcile(s.address);
    const rows = await this.repo.proposals(this.config.chainId, s.address, status ?? null, parseLimit(first ?? undefined));
    return rows.map((r) => this.toModel(r));
  }

  @Roles('TREASURY_OWNER', 'DAO_MEMBER')
  @Query(() => TreasuryProposal)
  async treasuryProposal(@Args('id', { type: () => ID }) id: string): Promise<TreasuryProposal> {
    return this.toModel(await this.service.load(id));
  }

  @Roles('TREASURY_OWNER')
  @Mutation(() => TreasuryProposal, {
    description:
      "Proposes paying `payments` from the treasury's market balance (one Safe transaction at the next free nonce; with " +
      '`replaces`, at that pending proposal\'s nonce instead). Owners then sign its typedData and call signTreasuryProposal.',
  })
  async proposeTreasuryPayout(
    @CurrentUser() user: AuthUser,
    @Args('payments', { type: () => [TreasuryPaymentInput] }) input: TreasuryPaymentInput[],
    @Args('description') description: string,
    @Args('replaces', { type: () => ID, nullable: true }) replaces: string | null,
  ): Promise<TreasuryProposal> {
    if (input.length === 0 || input.length > 20) throw new OpenReadError('BAD_INPUT', 'payments: between 1 and 20');
    if (description.trim().length === 0 || description.length > 2000) throw new OpenReadError('BAD_INPUT', 'description: 1 to 2,000 characters');
    const payments = input.map((p, i) => {
      const amount = parseAmount(p.amount, `payments[${i}].amount`);
      if (amount === 0n) throw new OpenReadError('BAD_INPUT', `payments[${i}].amount must be positive`);
      return { to: parseAddress(p.to, `payments[${i}].to`), amount: amount.toString() };
    });
    const replaced = replaces ? await this.service.load(replaces) : null;
    const id = await this.service.propose(user.address, payments, description, replaced);
    return this.toModel(await this.service.load(id));
  }

  @Roles('TREASURY_OWNER')
  @Mutation(() => TreasuryProposal, { description: "Adds your signature (eth_signTypedData_v4 over the proposal's typedData)." })
  async signTreasuryProposal(
    @CurrentUser() user: AuthUser,
    @Args('id', { type: () => ID }) id: string,
    @Args('signature') signature: string,
  ): Promise<TreasuryProposal> {
    parseSignature(signature);
    const p = await this.service.load(id);
    if (p.status !== 'PENDING') throw new OpenReadError('CONFLICT', `the proposal is ${p.status.toLowerCase()}`, { reason: p.status });
    const normalised = await this.service.verifySignature(p, user.address, signature);
    if (!(await this.repo.addSignature(p.id, user.address, normalised))) throw new OpenReadError('CONFLICT', 'you have already signed this proposal', { reason: 'ALREADY_SIGNED' });
    return this.toModel(await this.service.load(id));
  }

  @Roles('TREASURY_OWNER')
  @Mutation(() => TreasuryExecution, {
    description: 'Executes a proposal once it has threshold owner signatures and its nonce is the Safe\'s next (the service relays execTransaction).',
  })
  async executeTreasuryProposal(@Args('id', { type: () => ID }) id: string): Promise<TreasuryExecution> {
    const sent = await this.service.execute(id);
    return { ...sent, proposal: this.toModel(await this.service.load(id)) };
  }

  private toModel(r: TreasuryProposalRow): TreasuryProposal {
    return {
      id: r.id, safe: r.safe, nonce: r.nonce.toString(), safeTxHash: r.safeTxHash, ...this.service.typedData(r), to: r.to,
      value: r.value.toString(), data: r.data, operation: r.operation, payments: r.payments, description: r.description, proposer: r.proposer,
      replaces: r.replaces, status: r.status, executedTx: r.executedTx, signatures: r.signatures, createdAt: r.createdAt,
    };
  }
}
