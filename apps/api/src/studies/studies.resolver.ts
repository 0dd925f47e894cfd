import { Inject } from '@nestjs/common';
import { Args, Context, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig } from '#config';
import { MODALITIES, URGENCIES, US_STATES } from '#domain';
import { StudyRepository } from '#db';
import { Authenticated, CurrentUser, type GqlContext, Roles } from '../auth/auth.guard.js';
import type { AuthUser } from '../auth/auth.service.js';
import { ChainService } from '../chain/chain.service.js';
import { PostingService } from '../ro/posting.service.js';
import { OpenReadError } from '../common/errors.js';
import { ForwardRequestInput, GaslessRequest } from '../relay/relay.models.js';
import { RelayService } from '../relay/relay.service.js';
import { parseAmount, parseBytes32, parseLimit, parseStudyId, subsetOf } from '../common/validation.js';
import { FinalityService } from '../indexer/finality.js';
import { PreparedTransaction, RelayedTransaction, Study, WorklistFilter, WorklistPage, WorklistSort } from './study.models.js';

interface Cursor {
  s: WorklistSort;
  t: number;
  b: string;
  p: number;
  i: string;
}
const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');
function decodeCursor(raw: string, sort: WorklistSort): Cursor {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString()) as Cursor;
    if (c.s === sort && Number.isInteger(c.t) && /^\d+$/.test(c.b) && Number.isInteger(c.p) && /^0x[0-9a-f]{64}$/.test(c.i)) return c;
  } catch {
    /* fall through */
  }
  throw new OpenReadError('BAD_INPUT', 'after is not a cursor from this worklist (and sort order)');
}

@Resolver(() => Study)
export class StudiesResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly studies: StudyRepository,
    private readonly chain: ChainService,
    private readonly postings: PostingService,
    private readonly relay: RelayService,
    private readonly finality: FinalityService,
  ) {}

  @Roles('RADIOLOGIST')
  @Query(() => WorklistPage, {
    description: 'Open studies you are eligible to claim now, with their current bounty. Keyset-paginated.',
  })
  async worklist(
    @CurrentUser() user: AuthUser,
    @Args('filter', { type: () => WorklistFilter, nullable: true }) filter: WorklistFilter | null,
    @Args('sort', { type: () => WorklistSort, defaultValue: WorklistSort.BOUNTY_DESC }) sort: WorklistSort,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<WorklistPage> {
    const limit = parseLimit(first ?? undefined);
    const cursor = after ? decodeCursor(after, sort) : null;
    const asOf = cursor?.t ?? (await this.chain.now());
    const rows = await this.studies.worklist({
      chainId: this.config.chainId,
      radiologist: user.address,
      asOf,
      modalities: subsetOf(filter?.modalities, MODALITIES, 'modalities'),
      states: subsetOf(filter?.states?.map((s) => s.toUpperCase()), US_STATES, 'states'),
      urgencies: subsetOf(filter?.urgencies, URGENCIES, 'urgencies'),
      minBounty: filter?.minBounty != null ? parseAmount(filter.minBounty, 'minBounty') : undefined,
      sort,
      after: cursor ? { bounty: BigInt(cursor.b), postedAt: cursor.p, studyId: cursor.i } : undefined,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const finality = await this.finality.view();
    return {
      items: page.map((r) => Study.from(r, asOf, r.currentBounty, finality)),
      pageInfo: {
        hasNextPage: rows.length > limit,
        endCursor: last ? encodeCursor({ s: sort, t: asOf, b: last.currentBounty.toString(), p: last.postedAt, i: last.studyId }) : null,
      },
      asOf: new Date(asOf * 1000),
    };
  }

  @Authenticated()
  @Query(() => Study, { description: 'One study by its ID.' })
  async study(@Args('id', { type: () => ID }) id: string): Promise<Study> {
    const studyId = parseStudyId(id);
    const row = await this.studies.findById(this.config.chainId, studyId);
    if (!row) throw new OpenReadError('NOT_FOUND', 'no such study');
    const asOf = await this.chain.now();
    const bounty = row.status === 'OPEN' ? await this.studies.currentBounty(this.config.chainId, studyId, asOf) : null;
    return Study.from(row, asOf, bounty, await this.finality.view());
  }

  @Roles('RADIOLOGIST')
  @Query(() => [Study], { description: 'Studies you have claimed, newest first.' })
  async myClaims(
    @CurrentUser() user: AuthUser,
    @Args('first', { type: () => Int, nullable: true }) first: number | null,
  ): Promise<Study[]> {
    const rows = await this.studies.claimsOf(this.config.chainId, user.address, parseLimit(first ?? undefined));
    const asOf = await this.chain.now();
    const finality = await this.finality.view();
    return rows.map((r) => Study.from(r, asOf, null, finality));
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => PreparedTransaction, {
    description: 'The claim transaction for you to sign; refused up front if the study is taken or you are not eligible.',
  })
  async claimStudy(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string) {
    return toPrepared(await this.chain.prepare(user.address, 'claim', await this.claimArgs(user, id)));
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => GaslessRequest, {
    description: 'A gasless claim: an EIP-712 forward request to sign and hand to relayGasless (the service pays the gas).',
  })
  async prepareGaslessClaim(@CurrentUser() user: AuthUser, @Args('studyId', { type: () => ID }) id: string) {
    return this.relay.prepare(user.address, 'claim', await this.claimArgs(user, id));
  }

  /** The same checks as the contract's claim, up front: taken? eligible? */
  private async claimArgs(user: AuthUser, id: string): Promise<[string]> {
    const studyId = parseStudyId(id);
    const row = await this.studies.findById(this.config.chainId, studyId);
    if (!row) throw new OpenReadError('NOT_FOUND', 'no such study');
    const now = await this.chain.now();
    const leaseLapsed = row.status === 'CLAIMED' && row.leaseExpiresAt !== null && row.leaseExpiresAt < now;
    if (row.status !== 'OPEN' && !leaseLapsed) throw new OpenReadError('ALREADY_CLAIMED', 'the study has already been claimed');
    if (!(await this.studies.isEligible(this.config.chainId, user.address, studyId, now)))
      throw new OpenReadError('NOT_ELIGIBLE', 'you are not eligible to read this study (credential, licence state or modality)');
    return [studyId];
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => PreparedTransaction, {
    description: 'The report transaction for you to sign. Only the hash of the report goes on chain.',
  })
  async submitReport(
    @CurrentUser() user: AuthUser,
    @Args('studyId', { type: () => ID }) id: string,
    @Args('reportHash', { description: '32-byte hash of the report (e.g. keccak256 of the encrypted report)' }) hash: string,
  ) {
    return toPrepared(await this.chain.prepare(user.address, 'submitReport', await this.reportArgs(user, id, hash)));
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => GaslessRequest, { description: 'A gasless report: an EIP-712 forward request to sign and hand to relayGasless.' })
  async prepareGaslessReport(
    @CurrentUser() user: AuthUser,
    @Args('studyId', { type: () => ID }) id: string,
    @Args('reportHash', { description: '32-byte hash of the report' }) hash: string,
  ) {
    return this.relay.prepare(user.address, 'submitReport', await this.reportArgs(user, id, hash));
  }

  private async reportArgs(user: AuthUser, id: string, hash: string): Promise<[string, string]> {
    const studyId = parseStudyId(id);
    const reportHash = parseBytes32(hash, 'reportHash');
    const row = await this.studies.findById(this.config.chainId, studyId);
    if (!row || row.radiologist !== user.address) {
      // the index may not have reached a claim just relayed: the chain decides before we refuse
      const onChain = await this.chain.studyOnChain(studyId);
      if (onChain.status === 0) throw new OpenReadError('NOT_FOUND', 'no such study');
      if (onChain.radiologist !== user.address) throw new OpenReadError('FORBIDDEN', 'only the radiologist who claimed the study can report it');
    }
    return [studyId, reportHash];
  }

  @Roles('RADIOLOGIST')
  @Mutation(() => GaslessRequest, {
    description:
      'A gasless withdrawal of your market balance (your payouts) to your wallet: an EIP-712 forward request to sign and ' +
      'hand to relayGasless, so being paid never needs ETH. Refused up front (CONFLICT) above your balance.',
  })
  async prepareGaslessWithdraw(@CurrentUser() user: AuthUser, @Args('amount', { description: 'token base units' }) amount: string) {
    const value = parseAmount(amount, 'amount');
    if (value === 0n) throw new OpenReadError('BAD_INPUT', 'amount must be positive');
    return this.relay.prepare(user.address, 'withdraw', [value]);
  }

  @Roles('RADIOLOGIST', 'RO_DEPOSITOR')
  @Mutation(() => RelayedTransaction, {
    description:
      'Relay a forward request you signed (from prepareGaslessClaim/prepareGaslessReport/prepareGaslessWithdraw, or an RO depositor\'s ' +
      'prepareGaslessRoWithdraw/prepareGaslessCancelStudy/prepareGaslessDisputeStudy) through the ERC-2771 forwarder; the service pays ' +
      'the gas, within a daily limit per signer. Waits until it is mined, then (bounded) until the index has the block, so what ' +
      'you read next reflects it (see `indexed`).',
  })
  async relayGasless(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('request', { type: () => ForwardRequestInput }) request: ForwardRequestInput,
    @Args('signature') signature: string,
  ): Promise<RelayedTransaction> {
    return this.readYourWrite(await this.relay.submit(user.address, request, signature, ctx.req.roles ?? new Set()));
  }

  /** Waits (bounded) until the index includes the block of a write we just answered for, so reads do not contradict it. */
  private async readYourWrite(tx: { txHash: string; blockNumber: number; function: string }): Promise<RelayedTransaction> {
    return { ...tx, indexed: await this.finality.waitForIndexed(tx.blockNumber) };
  }

  @Roles('RADIOLOGIST', 'VERIFIER', 'RO_DEPOSITOR', 'DAO_MEMBER')
  @Mutation(() => RelayedTransaction, {
    description:
      'Send a transaction you signed and wait until it is mined, then (bounded) until the index has its block (see `indexed`): ' +
      'claim, submitReport or withdraw (radiologists), attest or revoke (verifiers), postStudy of a study ID from prepareStudyPosting, ' +
      'the approve and deposit of prepareRoDeposit, withdraw, cancelStudy and dispute (RO depositors), propose from ' +
      'proposeParameterChange (DAO members).',
  })
  async relayTransaction(@CurrentUser() user: AuthUser, @Context() ctx: GqlContext, @Args('signedTransaction') signed: string): Promise<RelayedTransaction> {
    const sent = await this.chain.relay(signed, user.address, ctx.req.roles ?? new Set(), async (call) => {
      if (call.name === 'postStudy') await this.postings.checkRelayedPosting(user.address, call.args[0] as string);
      // the token's approve is relayed only as the first half of a deposit: for the market
      if (call.name === 'approve' && String(call.args[0]).toLowerCase() !== this.config.contracts.market)
        throw new OpenReadError('BAD_INPUT', 'only an approve of the study market (from prepareRoDeposit) can be relayed');
    });
    return this.readYourWrite(sent);
  }
}

export function toPrepared(tx: { from: string; to: string; data: string; chainId: number; gasLimit: bigint }): PreparedTransaction {
  return { ...tx, gasLimit: tx.gasLimit.toString() };
}
