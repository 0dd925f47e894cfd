import { Inject } from '@nestjs/common';
import { Signature, getAddress, verifyTypedData } from 'ethers';
import { Args, Field, ID, Int, ObjectType, Parent, Query, ResolveField, Mutation, Resolver } from '@nestjs/graphql';
import { PERMIT_TYPES } from '#chain';
import { APP_CONFIG, type AppConfig } from '#config';
import { RoRepository, RoRow } from '#db';
import { Authenticated, CurrentUser, Roles } from '../auth/auth.guard.js';
import type { AuthUser } from '../auth/auth.service.js';
import { ChainService } from '../chain/chain.service.js';
import { OpenReadError } from '../common/errors.js';
import { parseAmount, parseSignature, parseStudyId } from '../common/validation.js';
import { JSONObject, TYPED_DATA_DESCRIPTION, TYPED_DATA_V4_DESCRIPTION, typedDataShapes } from '../common/typed-data.js';
import { GaslessRequest } from '../relay/relay.models.js';
import { RelayService } from '../relay/relay.service.js';
import { PreparedTransaction } from '../studies/study.models.js';
import { toPrepared } from '../studies/studies.resolver.js';
import { parseRoId } from './ro-access.service.js';
import { RadiologyOrg } from './ro.models.js';

const MAX_UINT128 = (1n << 128n) - 1n;
/**
 * deposit's gas limit. It cannot be estimated before its approve is mined (the simulation would revert on the
 * allowance); a deposit (SafeERC20 transferFrom + balance bookkeeping) uses about 60k gas on the market's token.
 */
const DEPOSIT_GAS = 150_000n;
/** How long a deposit permit stays valid. */
const PERMIT_TTL_SECONDS = 15 * 60;
@ObjectType({
  description:
    'An ERC-2612 permit for the market to take `amount` from your depositor wallet, to sign with EIP-712 and pass to prepareGaslessRoDeposit.',
})
export class DepositPermit {
  @Field(() => JSONObject, { description: TYPED_DATA_DESCRIPTION }) typedData: Record<string, unknown>;
  @Field(() => JSONObject, { description: TYPED_DATA_V4_DESCRIPTION }) typedDataV4: Record<string, unknown>;
  @Field({ description: 'token base units, as asked' }) amount: string;
  @Field(() => Int, { description: "the permit's deadline (unix seconds): pass it to prepareGaslessRoDeposit" }) deadline: number;
}

@ObjectType({ description: "A wallet's balance in the study market: what it can withdraw now (escrowed bounties are not included)." })
export class RadiologistBalance {
  @Field() account: string;
  @Field({ description: 'token base units the wallet can withdraw now: its market balance (balanceOf), read from the chain' })
  withdrawable: string;
  @Field(() => Int, { description: 'the chain block the balance was read at' }) asOfBlock: number;
}

@ObjectType({ description: "One depositor wallet of an RO and its market balance (withdrawable or available to escrow for postings)." })
export class DepositorBalance {
  @Field() account: string;
  @Field({ description: "token base units: the wallet's market balance (balanceOf) from the chain; bounties already escrowed by postings are not included" })
  balance: string;
}

/**
 * RO funds through the API: deposit (approve + deposit, signed by the depositor wallet and sent with
 * relayTransaction), withdraw, cancel and dispute (signed transactions, or gasless forward requests for
 * relayGasless). Each is for a depositor wallet of the RO concerned; the chain decides the rest and its refusal is
 * given up front by simulating the call.
 */
@Resolver(() => RadiologyOrg)
export class RoFundsResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ros: RoRepository,
    private readonly chain: ChainService,
    private readonly relay: RelayService,
  ) {}

  /** The RO `roId` if the caller's wallet is one of its depositors (an admin is no depositor: the wallet signs). */
  private async depositorOf(caller: string, roId: string): Promise<RoRow> {
    const id = parseRoId(roId);
    const mine = await this.ros.membershipsOf(this.config.chainId, caller);
    if (!mine.some((m) => m.roId === id && m.role === 'DEPOSITOR'))
      throw new OpenReadError('FORBIDDEN', "only a depositor wallet of this RO can move its funds (RO ids are not for probing)");
    const ro = await this.ros.find(this.config.chainId, id);
    if (!ro) throw new OpenReadError('NOT_FOUND', 'no such RO');
    return ro;
  }

  private positive(amount: string): bigint {
    const value = parseAmount(amount, 'amount');
    if (value === 0n || value > MAX_UINT128) throw new OpenReadError('BAD_INPUT', 'amount must be positive (token base units) and below 2^128', { field: 'amount' });
    return value;
  }

  /**
   * The study as the chain has it (not the index, which may lag a posting just relayed), for a depositor of the RO
   * that posted it: NOT_FOUND if the market does not know it; FORBIDDEN for another RO's study, or for another wallet
   * of the same RO (the market lets only the posting wallet cancel or dispute).
   */
  private async ownStudy(caller: string, id: string): Promise<string> {
    const studyId = parseStudyId(id);
    const study = await this.chain.studyOnChain(studyId);
    if (study.status === 0) throw new OpenReadError('NOT_FOUND', 'no such study');
    const mine = await this.ros.roOfDepositor(this.config.chainId, caller);
    const owner = await this.ros.roOfDepositor(this.config.chainId, study.ro);
    if (!mine || !owner || mine.id !== owner.id) throw new OpenReadError('FORBIDDEN', "only the posting RO's depositor can do this");
    if (study.ro !== caller) throw new OpenReadError('FORBIDDEN', `only the wallet that posted the study (${study.ro}) can do this`);
    return studyId;
  }

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
    const value = await this.depositAmount(user.address, roId, amount);
    const approve = await this.chain.prepare(user.address, 'approve', [this.config.contracts.market, value], 'token');
    const deposit = {
      from: user.address,
      to: this.config.contracts.market,
      data: this.chain.market.encodeFunctionData('deposit', [value]),
      chainId: this.config.chainId,
      gasLimit: DEPOSIT_GAS,
    };
    return [toPrepared(approve), toPrepared(deposit)];
  }

  /** The checks of a deposit: the caller's RO, a positive amount the wallet holds. */
  private async depositAmount(caller: string, roId: string, amount: string): Promise<bigint> {
    await this.depositorOf(caller, roId);
    const value = this.positive(amount);
    const held = await this.chain.tokenView('balanceOf', [caller]);
    if (held < value) throw new OpenReadError('CONFLICT', `the wallet holds ${held} token base units, less than the deposit`, { reason: 'InsufficientTokens' });
    return value;
  }

  private async permitMessage(owner: string, value: bigint, deadline: number) {
    const domain = await this.chain.tokenDomain();
    const nonce = await this.chain.tokenView('nonces', [owner]);
    return { domain, message: { owner: getAddress(owner), spender: getAddress(this.config.contracts.market), value, nonce, deadline } };
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
    const value = await this.depositAmount(user.address, roId, amount);
    const deadline = Math.max(await this.chain.now(0), Math.floor(Date.now() / 1000)) + PERMIT_TTL_SECONDS;
    const { domain, message } = await this.permitMessage(user.address, value, deadline);
    return { ...typedDataShapes(domain, PERMIT_TYPES, 'Permit', message), amount: value.toString(), deadline };
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, {
    description:
      'Step 2 of a gasless deposit: market.depositWithPermit(amount, deadline, permit) as an EIP-712 forward request; sign its ' +
      '`typedData` and hand it to relayGasless (the service pays the gas). BAD_INPUT if the permit signature is not your wallet\'s ' +
      'for exactly this amount and deadline. Shows in roLedger as DEPOSIT.',
  })
  async prepareGaslessRoDeposit(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('amount', { description: 'token base units, as in prepareRoDepositPermit' }) amount: string,
    @Args('deadline', { type: () => Int, description: "the permit's deadline from prepareRoDepositPermit" }) deadline: number,
    @Args('permitSignature', { description: "your wallet's EIP-712 signature of the permit's typedData (65 bytes, 0x-hex)" }) permitSignature: string,
  ): Promise<GaslessRequest> {
    const value = await this.depositAmount(user.address, roId, amount);
    const signature = parseSignature(permitSignature, 'permitSignature');
    if (!Number.isInteger(deadline) || deadline <= (await this.chain.now(0)))
      throw new OpenReadError('BAD_INPUT', 'the permit has expired; prepare a new one', { field: 'deadline' });
    const { domain, message } = await this.permitMessage(user.address, value, deadline);
    let signer: string;
    try {
      signer = verifyTypedData(domain, PERMIT_TYPES, message, signature);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'permitSignature is not a valid EIP-712 signature', { field: 'permitSignature' });
    }
    if (signer.toLowerCase() !== user.address)
      throw new OpenReadError('BAD_INPUT', "permitSignature is not your wallet's signature of this permit (amount, deadline, nonce)", { field: 'permitSignature' });
    const { v, r, s } = Signature.from(signature);
    return this.relay.prepare(user.address, 'depositWithPermit', [value, deadline, v, r, s]);
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
    await this.depositorOf(user.address, roId);
    return toPrepared(await this.chain.prepare(user.address, 'withdraw', [this.positive(amount)]));
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, {
    description: 'prepareRoWithdraw as a gasless EIP-712 forward request: sign `typedData` and hand it to relayGasless (the service pays the gas).',
  })
  async prepareGaslessRoWithdraw(
    @CurrentUser() user: AuthUser,
    @Args('roId', { type: () => ID }) roId: string,
    @Args('amount', { description: 'token base units, decimal string' }) amount: string,
  ): Promise<GaslessRequest> {
    await this.depositorOf(user.address, roId);
    return this.relay.prepare(user.address, 'withdraw', [this.positive(amount)]);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description:
      "Cancels one of your RO's studies that is still open (unclaimed, or its lease lapsed): its maxBounty returns to the posting " +
      'wallet\'s market balance (roLedger: REFUND). Only the posting wallet can; another RO\'s study is FORBIDDEN. Sign and send with relayTransaction.',
  })
  async prepareCancelStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string): Promise<PreparedTransaction> {
    return toPrepared(await this.chain.prepare(user.address, 'cancelStudy', [await this.ownStudy(user.address, id)]));
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, { description: 'prepareCancelStudy as a gasless EIP-712 forward request for relayGasless.' })
  async prepareGaslessCancelStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string): Promise<GaslessRequest> {
    return this.relay.prepare(user.address, 'cancelStudy', [await this.ownStudy(user.address, id)]);
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => PreparedTransaction, {
    description:
      "Disputes the report of one of your RO's studies within its acceptance window (study.disputeDeadline): the locked bounty " +
      'stays escrowed until the arbiter or the DAO resolves it (roLedger: DISPUTE). Only the posting wallet can. Sign and send with relayTransaction.',
  })
  async prepareDisputeStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string): Promise<PreparedTransaction> {
    return toPrepared(await this.chain.prepare(user.address, 'dispute', [await this.ownStudy(user.address, id)]));
  }

  @Roles('RO_DEPOSITOR')
  @Mutation(() => GaslessRequest, { description: 'prepareDisputeStudy as a gasless EIP-712 forward request for relayGasless.' })
  async prepareGaslessDisputeStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string): Promise<GaslessRequest> {
    return this.relay.prepare(user.address, 'dispute', [await this.ownStudy(user.address, id)]);
  }

  @Authenticated()
  @Query(() => RadiologistBalance, {
    description:
      "Your wallet's market balance, read from the chain: for a radiologist, the payouts you can withdraw now (prepareGaslessWithdraw).",
  })
  async myBalance(@CurrentUser() user: AuthUser): Promise<RadiologistBalance> {
    const asOfBlock = await this.chain.provider.getBlockNumber().catch(() => {
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'the chain node is not reachable; try again shortly');
    });
    return { account: user.address, withdrawable: (await this.chain.marketBalance(user.address)).toString(), asOfBlock };
  }

  @ResolveField(() => [DepositorBalance], {
    description: "The RO's depositor wallets, each with its market balance from the chain (available to post with, or to withdraw).",
  })
  async depositors(@Parent() ro: RadiologyOrg): Promise<DepositorBalance[]> {
    const accounts = ro.members.filter((m) => m.role === 'DEPOSITOR').map((m) => m.account);
    return Promise.all(accounts.map(async (account) => ({ account, balance: (await this.chain.marketBalance(account)).toString() })));
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
