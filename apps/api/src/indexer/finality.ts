import { Inject, Injectable } from '@nestjs/common';
import { Field, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { APP_CONFIG, type AppConfig, indexerStream } from '#config';
import { CheckpointRepository } from '#db';

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

  /**
   * Waits until the index includes `block` (polling the checkpoint), at most `timeoutMs`: after a write the API answered,
   * what it reads next must not contradict it. Returns whether the index got there.
   */
  async waitForIndexed(block: number, timeoutMs = READ_YOUR_WRITES_WAIT_MS): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const cp = await this.store.checkpoint(this.config.chainId, indexerStream(this.config));
      if ((cp?.blockNumber ?? -1) >= block) return true;
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async view(): Promise<FinalityView> {
    const cp = await this.store.checkpoint(this.config.chainId, indexerStream(this.config));
    const indexedBlock = cp?.blockNumber ?? -1;
    const chainHead = Math.max(cp?.chainHead ?? indexedBlock, indexedBlock);
    // a chain younger than the finality depth has only its genesis final (never a negative block number)
    const finalizedBlock = Math.max(0, chainHead - this.config.indexer.finalityDepth);
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

  /** The indexer's position, finality and health. */
  async status(): Promise<IndexerStatus> {
    const v = await this.view();
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

/** How long a write waits for the index to include its block before answering anyway. */
export const READ_YOUR_WRITES_WAIT_MS = 5_000;

@ObjectType({ description: "The indexer's position: how fresh and how final what this API shows is." })
export class IndexerStatus {
  @Field(() => Int, { description: 'the chain head the indexer last saw' }) chainHead: number;
  @Field(() => Int, { description: 'newest block indexed (chainHead − confirmations when caught up)' }) indexedBlock: number;
  @Field(() => Int, { description: 'blocks at or below this are FINAL (0 while the chain is younger than the finality depth)' })
  finalizedBlock: number;
  @Field(() => Int) confirmations: number;
  @Field(() => Int) finalityDepth: number;
  @Field(() => Int, { description: 'blocks the indexer is behind the confirmed head' }) lagBlocks: number;
  @Field({ description: 'true when the indexer stopped itself (reorg deeper than the finality depth)' }) halted: boolean;
  @Field(() => String, { nullable: true }) haltedReason: string | null;
}
