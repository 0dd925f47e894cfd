import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import type { TreasuryStatus } from '#db';
import { CurrentUser, Roles, type AuthUser } from '../common/access.js';
import { TreasuryPayoutsService } from './payouts.service.js';
import { Treasury, TreasuryExecution, TreasuryPaymentInput, TreasuryProposal, TreasuryProposalStatus } from './treasury.models.js';

/**
 * The treasury Safe over GraphQL, for its owners (TREASURY_OWNER: the Safe's getOwners on chain): payout proposals,
 * owners' signatures over the SafeTx hash, execution at threshold by the service's relayer. DAO members may read.
 */
@Resolver(() => TreasuryProposal)
export class TreasuryResolver {
  constructor(private readonly payouts: TreasuryPayoutsService) {}

  @Roles('TREASURY_OWNER', 'DAO_MEMBER')
  @Query(() => Treasury, { description: 'The treasury Safe: owners, threshold, nonce, balances.' })
  async treasury(): Promise<Treasury> {
    return this.payouts.overview();
  }

  @Roles('TREASURY_OWNER', 'DAO_MEMBER')
  @Query(() => [TreasuryProposal], { description: 'Payout proposals of the treasury Safe, newest first.' })
  async treasuryProposals(
    @Args('status', { type: () => TreasuryProposalStatus, nullable: true }) status: TreasuryStatus | null,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
  ): Promise<TreasuryProposal[]> {
    return this.payouts.proposals(status ?? null, first);
  }

  @Roles('TREASURY_OWNER', 'DAO_MEMBER')
  @Query(() => TreasuryProposal)
  async treasuryProposal(@Args('id', { type: () => ID }) id: string): Promise<TreasuryProposal> {
    return this.payouts.proposal(id);
  }

  @Roles('TREASURY_OWNER')
  @Mutation(() => TreasuryProposal, {
    description:
      "Proposes paying `payments` from the treasury's market balance (one Safe transaction at the next free nonce; with " +
      "`replaces`, at that pending proposal's nonce instead). Owners then sign its typedData and call signTreasuryProposal.",
  })
  async proposeTreasuryPayout(
    @CurrentUser() user: AuthUser,
    @Args('payments', { type: () => [TreasuryPaymentInput] }) input: TreasuryPaymentInput[],
    @Args('description') description: string,
    @Args('replaces', { type: () => ID, nullable: true }) replaces: string | null,
  ): Promise<TreasuryProposal> {
    return this.payouts.propose(user.address, input, description, replaces);
  }

  @Roles('TREASURY_OWNER')
  @Mutation(() => TreasuryProposal, { description: "Adds your signature (eth_signTypedData_v4 over the proposal's typedData)." })
  async signTreasuryProposal(
    @CurrentUser() user: AuthUser,
    @Args('id', { type: () => ID }) id: string,
    @Args('signature') signature: string,
  ): Promise<TreasuryProposal> {
    return this.payouts.sign(user.address, id, signature);
  }

  @Roles('TREASURY_OWNER')
  @Mutation(() => TreasuryExecution, {
    description:
      "Executes a proposal once it has threshold owner signatures and its nonce is the Safe's next (the service relays execTransaction).",
  })
  async executeTreasuryProposal(@Args('id', { type: () => ID }) id: string): Promise<TreasuryExecution> {
    return this.payouts.execute(id);
  }
}
