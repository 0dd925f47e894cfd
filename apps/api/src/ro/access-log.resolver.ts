import { Args, Context, ID, Int, Query, Resolver } from '@nestjs/graphql';
import { CurrentUser, type GqlContext, Roles, type AuthUser } from '../common/access.js';
import { AccessLogProofService } from './access-log-proof.service.js';
import { AccessLogAnchorInfo, AccessLogProof } from './ro.models.js';

/** The access log's anchors and inclusion proofs, for RO staff to check their studies' entries against the chain. */
@Resolver()
export class AccessLogResolver {
  constructor(private readonly proofs: AccessLogProofService) {}

  @Roles('RO_BILLING', 'RO_DEPOSITOR')
  @Query(() => [AccessLogAnchorInfo], {
    description: 'The access log anchors on chain (a copy: check roots against the AccessLogAnchor contract), oldest first.',
  })
  async accessLogAnchors(
    @Args('afterSeq', { type: () => Int, defaultValue: 0, description: 'only anchors ending after this entry' }) afterSeq: number,
    @Args('first', { type: () => Int, defaultValue: 100, description: 'at most this many (1–1000)' }) first: number,
  ): Promise<AccessLogAnchorInfo[]> {
    return this.proofs.anchors(afterSeq, first);
  }

  @Roles('RO_BILLING', 'RO_DEPOSITOR')
  @Query(() => [AccessLogProof], {
    description:
      "Every access-log entry of one of your RO's studies with its Merkle inclusion proof and anchor (none while pending). " +
      'Verify them against the root on chain, not this API: verifyAccessLogProof in libs/lease.',
  })
  async accessLogProof(
    @CurrentUser() user: AuthUser,
    @Context() ctx: GqlContext,
    @Args('studyId', { type: () => ID }) studyId: string,
  ): Promise<AccessLogProof[]> {
    const parts = await this.proofs.proof(user.address, ctx.req.roles ?? new Set(), studyId);
    return parts.map(({ entry, leaf, proof, anchor }) => ({
      entry: {
        seq: entry.seq,
        chainId: entry.chainId,
        studyId: entry.studyId,
        account: entry.account,
        action: entry.action,
        outcome: entry.outcome,
        reason: entry.reason,
        atMs: entry.atMs,
        salt: entry.salt,
      },
      leaf,
      proof,
      anchor,
      pending: anchor === null,
    }));
  }
}
