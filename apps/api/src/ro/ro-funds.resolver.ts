import { Args, ID, Int, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Authenticated, CurrentUser, Roles, type AuthUser } from '../common/access.js';
import { PreparedTransaction } from '../common/graphql/index.js';
import { GaslessRequest } from '../relay/index.js';
import { DepositorBalance, DepositPermit, RadiologistBalance } from './ro-funds.models.js';
import { RoFundsService } from './ro-funds.service.js';
import { RadiologyOrg } from './ro.models.js';

/** RO funds through the API (the rules: RoFundsService). */
@Resolver(() => RadiologyOrg)
export class RoFundsResolver {
  constructor(private readonly funds: RoFundsService) {}

  @Roles('RO_DEPOSITOR')
  @Mutation(() => [PreparedTransaction], {
    description:
      "Funds the RO's market balance from your depositor wallet: two transactions to sign and send in order with " +
      'relayTransaction (each waits until mined): [0] the token approve(market, amount), [1] market.deposit(amount). ' +
      'Refused up front (CONFLICT) when the wallet holds fewer tokens. The deposit shows in roLedger as DEPOSIT.',
  })
  async prepareRoDeposit(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('amount', { description: 'token base units (6 decimals), decimal string' }) amount: string,
  ): Promise<PreparedTransaction[]> {
    return this.funds.prepareDeposit(user.address, roId, amount);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => DepositPermit, {
    description:
      'Step 1 of a gasless deposit: the ERC-2612 permit (token EIP-712) letting the market take `amount` from your depositor wallet. ' +
      'Sign `typedData` (no transaction, no gas), then call prepareGaslessRoDeposit with the signature and `deadline`.',
  })
  async prepareRoDepositPermit(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('amount', { description: 'token base units, decimal string' }) amount: string,
  ): Promise<DepositPermit> {
    return this.funds.prepareDepositPermit(user.address, roId, amount);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, {
    description:
      'Step 2 of a gasless deposit: market.depositWithPermit(amount, deadline, permit) as an EIP-712 forward request; sign its ' +
      "`typedData` and hand it to relayGasless (the service pays the gas). BAD_INPUT if the permit signature is not your wallet's " +
      'for exactly this amount and deadline. Shows in roLedger as DEPOSIT.',
  })
  async prepareGaslessRoDeposit(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('amount', { description: 'token base units, as in prepareRoDepositPermit' }) amount: string,
    @Args('deadline', { type: () => Int, description: "the permit's deadline from prepareRoDepositPermit" }) deadline: number,
    @Args('permitSignature', { description: "your wallet's EIP-712 signature of the permit's typedData (65 bytes, 0x-hex)" })
    permitSignature: string,
  ): Promise<GaslessRequest> {
    return this.funds.prepareGaslessDeposit(user.address, roId, amount, deadline, permitSignature);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description:
      "Withdraws from your depositor wallet's market balance (not escrowed by postings) back to the wallet: sign it and send it with " +
      'relayTransaction. Refused up front (CONFLICT) above the balance. Shows in roLedger as WITHDRAWAL.',
  })
  async prepareRoWithdraw(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('amount', { description: 'token base units, decimal string' }) amount: string,
  ): Promise<PreparedTransaction> {
    return this.funds.prepareWithdraw(user.address, roId, amount);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, {
    description:
      'prepareRoWithdraw as a gasless EIP-712 forward request: sign `typedData` and hand it to relayGasless (the service pays the gas).',
  })
  async prepareGaslessRoWithdraw(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('amount', { description: 'token base units, decimal string' }) amount: string,
  ): Promise<GaslessRequest> {
    return this.funds.prepareGaslessWithdraw(user.address, roId, amount);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description:
      "Cancels one of your RO's studies that is still open (unclaimed, or its lease lapsed): its maxBounty returns to the posting " +
      "wallet's market balance (roLedger: REFUND). Only the posting wallet can; another RO's study is FORBIDDEN. Sign and send with relayTransaction.",
  })
  async prepareCancelStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string): Promise<PreparedTransaction> {
    return this.funds.prepareStudyCall(user.address, 'cancelStudy', id);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, { description: 'prepareCancelStudy as a gasless EIP-712 forward request for relayGasless.' })
  async prepareGaslessCancelStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string): Promise<GaslessRequest> {
    return this.funds.prepareGaslessStudyCall(user.address, 'cancelStudy', id);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description:
      "Disputes the report of one of your RO's studies within its acceptance window (study.disputeDeadline): the locked bounty " +
      'stays escrowed until the arbiter or the DAO resolves it (roLedger: DISPUTE). Only the posting wallet can. Sign and send with relayTransaction.',
  })
  async prepareDisputeStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string): Promise<PreparedTransaction> {
    return this.funds.prepareStudyCall(user.address, 'dispute', id);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, { description: 'prepareDisputeStudy as a gasless EIP-712 forward request for relayGasless.' })
  async prepareGaslessDisputeStudy(
    @CurrentUser() user: AuthUser,
    @Args('studyId', { type: () => ID }) id: string,
  ): Promise<GaslessRequest> {
    return this.funds.prepareGaslessStudyCall(user.address, 'dispute', id);
  }

  @Authenticated()
  @Query(() => RadiologistBalance, {
    description:
      "Your wallet's market balance, read from the chain: for a radiologist, the payouts you can withdraw now (prepareGaslessWithdraw).",
  })
  async myBalance(@CurrentUser() user: AuthUser): Promise<RadiologistBalance> {
    return this.funds.balanceOf(user.address);
  }

  @ResolveField(() => [DepositorBalance], {
    description: "The RO's depositor wallets, each with its market balance from the chain (available to post with, or to withdraw).",
  })
  async depositors(@Parent() ro: RadiologyOrg): Promise<DepositorBalance[]> {
    return this.funds.depositorBalances(ro.members.filter((m) => m.role === 'DEPOSITOR').map((m) => m.account));
  }

  @ResolveField(() => String, {
    description:
      "The RO's deposit balance: the sum over its depositor wallets (see `depositors`) of their market balance, token base units, read " +
      'from the chain. Bounties escrowed by open postings are not included (they are no longer withdrawable).',
  })
  async depositBalance(@Parent() ro: RadiologyOrg): Promise<string> {
    return (await this.depositors(ro)).reduce((sum, d) => sum + BigInt(d.balance), 0n).toString();
  }
}
