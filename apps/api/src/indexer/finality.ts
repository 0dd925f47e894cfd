import { Inject, Injectable } from '@nestjs/common';
import { Field, Int, ObjectType, Query, Resolver, registerEnumType } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig, indexerStream } from '#config';
import { CheckpointRepository } from '#db';
import { Public } from '../auth/auth.guard.js';

/**
 * What users see is never younger than INDEXER_CONFIRMATIONS blocks: the indexer reads no block before it
 * has that many blocks on top. Past that, data is PENDING until it is INDEXER_FINALITY_DEPTH blocks deep (a
 * reorg may still undo it, and the indexer would roll it back), then FINAL.
 */
export enum Finality {
  PENDING = 'PENDING',
  FINAL = 'FINAL',
}
registerEnumType(Finality, {
  name: 'Finality',
  description:
    'PENDING: confirmed (the configured confirmations), but within the finality depth, so a reorg could still undo it; ' +
    'FINAL: deeper than the finality depth',
});

export interface FinalityView {
  chainHead: number;
  indexedBlock: number;
  finalizedBlock: number;
  of(block: number): { confirmations: number; finality: Finality };
}

@Injectable()
export class FinalityService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly store: CheckpointRepository,
  ) {}

  async view(): Promise<FinalityView> {
    const cp = await this.store.checkpoint(this.config.chainId, indexerStream(this.config));
    const indexedBlock = cp?.blockNumber ?? -1;
    const chainHead = Math.max(cp?.chainHead ?? indexedBlock, indexedBlock);
    const finalizedBlock = chainHead - this.config.indexer.finalityDepth;
    return {
      chainHead,
      indexedBlock,
      finalizedBlock,
      of: (block: number) => ({
        confirmations: Math.max(0, chainHead - block),
        finality: block <= finalizedBlock ? Finality.FINAL : Finality.PENDING,
      }),
    };
  }
}

@ObjectType({ description: "The indexer's position: how fresh and how final what this API shows is." })
class IndexerStatus {
  @Field(() => Int, { description: 'the chain head the indexer last saw' }) chainHead: number;
  @Field(() => Int, { description: 'newest block indexed (chainHead − confirmations when caught up)' }) indexedBlock: number;
  @Field(() => Int, { description: 'blocks at or below this are FINAL' }) finalizedBlock: number;
  @Field(() => Int) confirmations: number;
  @Field(() => Int) finalityDepth: number;
  @Field(() => Int, { description: 'blocks the indexer is behind the confirmed head' }) lagBlocks: number;
  @Field({ description: 'true when the indexer stopped itself (reorg deeper than the finality depth)' }) halted: boolean;
  @Field(() => String, { nullable: true }) haltedReason: string | null;
}

@Resolver()
export class IndexerStatusResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly finality: FinalityService,
    private readonly store: CheckpointRepository,
  ) {}

  @Public()
  @Query(() => IndexerStatus, { description: 'Indexer position, finality and health (public).' })
  async indexerStatus(): Promise<IndexerStatus> {
    const v = await this.finality.view();
    const cp = await this.store.checkpoint(this.config.chainId, indexerStream(this.config));
    return {
      chainHead: v.chainHead,
      indexedBlock: v.indexedBlock,
      finalizedBlock: v.finalizedBlock,
      confirmations: this.config.indexer.confirmations,
      finalityDepth: this.config.indexer.finalityDepth,
      lagBlocks: Math.max(0, v.chainHead - this.config.indexer.confirmations - v.indexedBlock),
      halted: !!cp?.haltedReason,
      haltedReason: cp?.haltedReason ?? null,
    };
  }
}
