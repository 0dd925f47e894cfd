import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { type AccessLogAnchorRow, type AccessLogEntry, AccessLogRepository, StudyVaultRepository } from '#db';
import { AccessLogMerkleTree, accessLogLeaf } from '#lease';
import type { Role } from '../common/access.js';
import { parseStudyId } from '../common/validation.js';
import { OpenReadError } from '../common/errors.js';
import { RoAccessService } from './ro-access.service.js';

/** One of a study's access-log entries with its leaf, its inclusion proof and the anchor it is in (null: pending). */
export interface AccessLogProofParts {
  entry: AccessLogEntry;
  leaf: string;
  proof: string[];
  anchor: AccessLogAnchorRow | null;
}

const MAX_ANCHORS_PAGE = 1000;

/**
 * The access log's anchors and inclusion proofs, for an RO to check its studies' entries against the chain itself
 * (`verifyAccessLogProof` in #lease). A proof is built from the entries of the anchor as they are in the database
 * now: an entry rewritten after it was anchored gets a proof that no longer leads to the root on chain. A response
 * carries the study's own entries and sibling hashes only (salted leaves and inner nodes), never another entry.
 */
@Injectable()
export class AccessLogProofService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly access: RoAccessService,
    private readonly vault: StudyVaultRepository,
    private readonly log: AccessLogRepository,
  ) {}

  async anchors(afterSeq: number, first: number): Promise<AccessLogAnchorRow[]> {
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new OpenReadError('BAD_INPUT', 'afterSeq must be a whole number ≥ 0');
    if (!Number.isInteger(first) || first < 1 || first > MAX_ANCHORS_PAGE)
      throw new OpenReadError('BAD_INPUT', `first must be between 1 and ${MAX_ANCHORS_PAGE}`);
    return this.log.anchors(this.config.chainId, afterSeq, first);
  }

  /** Every entry of the study with its proof; the RO's billing and depositor accounts only. */
  async proof(account: string, roles: ReadonlySet<Role>, rawStudyId: string): Promise<AccessLogProofParts[]> {
    const studyId = parseStudyId(rawStudyId);
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting) throw new OpenReadError('NOT_FOUND', 'no such study');
    await this.access.requireMember(account, roles, posting.roId, ['BILLING', 'DEPOSITOR']);
    const entries = await this.log.forStudy(this.config.chainId, studyId);
    if (!entries.length) return [];
    const anchors = await this.log.anchorsCovering(
      this.config.chainId,
      entries.map((e) => e.seq),
    );
    const trees = new Map<number, AccessLogMerkleTree>();
    for (const a of anchors) trees.set(a.seq, new AccessLogMerkleTree((await this.log.between(a.fromSeq, a.seq)).map(accessLogLeaf)));
    return entries.map((entry) => {
      const leaf = accessLogLeaf(entry);
      const anchor = anchors.find((a) => a.fromSeq <= entry.seq && entry.seq <= a.seq) ?? null;
      return { entry, leaf, proof: anchor ? trees.get(anchor.seq)!.proof(leaf) : [], anchor };
    });
  }
}
