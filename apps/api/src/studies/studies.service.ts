import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { MODALITIES, URGENCIES, US_STATES } from '#domain';
import { StudyRepository } from '#db';
import type { Role } from '../common/access.js';
import { OpenReadError } from '../common/errors.js';
import { type PreparedTransaction, toPrepared } from '../common/graphql/index.js';
import { parseAmount, parseBytes32, parseLimit, parseStudyId, subsetOf } from '../common/validation.js';
import { ChainService } from '../chain/index.js';
import { FinalityService } from '../indexer/index.js';
import { RelayService } from '../relay/index.js';
import { PostingService } from '../ro/index.js';
import type { ForwardRequestInput, GaslessRequest } from '../relay/index.js';
import { type RelayedTransaction, Study, type WorklistFilter, type WorklistPage, WorklistSort } from './study.models.js';
import { WorklistCursors } from './worklist-cursor.js';

/** A radiologist's studies: the worklist, claims and reports (signed or gasless), and the relaying of signed writes. */
@Injectable()
export class StudiesService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly studies: StudyRepository,
    private readonly chain: ChainService,
    private readonly postings: PostingService,
    private readonly relay: RelayService,
    private readonly finality: FinalityService,
  ) {
    this.cursors = new WorklistCursors(config.api.cursorSecret, config.api.cursorMaxAgeSeconds);
  }

  private readonly cursors: WorklistCursors;

  async worklist(
    radiologist: string,
    filter: WorklistFilter | null,
    sort: WorklistSort,
    first: number | null,
    after: string | null,
  ): Promise<WorklistPage> {
    const limit = parseLimit(first ?? undefined);
    const now = await this.chain.now();
    const cursor = after ? this.cursors.decode(after, radiologist, sort, now) : null;
    const asOf = cursor?.t ?? now;
    const rows = await this.studies.worklist({
      chainId: this.config.chainId,
      radiologist,
      asOf,
      modalities: subsetOf(filter?.modalities, MODALITIES, 'modalities'),
      states: subsetOf(
        filter?.states?.map((s) => s.toUpperCase()),
        US_STATES,
        'states',
      ),
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
        endCursor: last
          ? this.cursors.encode(radiologist, { s: sort, t: asOf, b: last.currentBounty.toString(), p: last.postedAt, i: last.studyId })
          : null,
      },
      asOf: new Date(asOf * 1000),
    };
  }

  async study(id: string): Promise<Study> {
    const studyId = parseStudyId(id);
    const row = await this.studies.findById(this.config.chainId, studyId);
    if (!row) throw new OpenReadError('NOT_FOUND', 'no such study');
    const asOf = await this.chain.now();
    const bounty = row.status === 'OPEN' ? await this.studies.currentBounty(this.config.chainId, studyId, asOf) : null;
    return Study.from(row, asOf, bounty, await this.finality.view());
  }

  async claimsOf(radiologist: string, first: number | null): Promise<Study[]> {
    const rows = await this.studies.claimsOf(this.config.chainId, radiologist, parseLimit(first ?? undefined));
    const asOf = await this.chain.now();
    const finality = await this.finality.view();
    return rows.map((r) => Study.from(r, asOf, null, finality));
  }

  async prepareClaim(radiologist: string, id: string): Promise<PreparedTransaction> {
    return toPrepared(await this.chain.prepare(radiologist, 'claim', await this.claimArgs(radiologist, id)));
  }

  async prepareGaslessClaim(radiologist: string, id: string): Promise<GaslessRequest> {
    return this.relay.prepare(radiologist, 'claim', await this.claimArgs(radiologist, id));
  }

  /** The same checks as the contract's claim, up front: taken? eligible? */
  private async claimArgs(radiologist: string, id: string): Promise<[string]> {
    const studyId = parseStudyId(id);
    const row = await this.studies.findById(this.config.chainId, studyId);
    if (!row) throw new OpenReadError('NOT_FOUND', 'no such study');
    const now = await this.chain.now();
    const leaseLapsed = row.status === 'CLAIMED' && row.leaseExpiresAt !== null && row.leaseExpiresAt < now;
    if (row.status !== 'OPEN' && !leaseLapsed) throw new OpenReadError('ALREADY_CLAIMED', 'the study has already been claimed');
    if (!(await this.studies.isEligible(this.config.chainId, radiologist, studyId, now)))
      throw new OpenReadError('NOT_ELIGIBLE', 'you are not eligible to read this study (credential, licence state or modality)');
    return [studyId];
  }

  async prepareReport(radiologist: string, id: string, hash: string): Promise<PreparedTransaction> {
    return toPrepared(await this.chain.prepare(radiologist, 'submitReport', await this.reportArgs(radiologist, id, hash)));
  }

  async prepareGaslessReport(radiologist: string, id: string, hash: string): Promise<GaslessRequest> {
    return this.relay.prepare(radiologist, 'submitReport', await this.reportArgs(radiologist, id, hash));
  }

  private async reportArgs(radiologist: string, id: string, hash: string): Promise<[string, string]> {
    const studyId = parseStudyId(id);
    const reportHash = parseBytes32(hash, 'reportHash');
    const row = await this.studies.findById(this.config.chainId, studyId);
    if (!row || row.radiologist !== radiologist) {
      // the index may not have reached a claim just relayed: the chain decides before we refuse
      const onChain = await this.chain.studyOnChain(studyId);
      if (onChain.status === 0) throw new OpenReadError('NOT_FOUND', 'no such study');
      if (onChain.radiologist !== radiologist)
        throw new OpenReadError('FORBIDDEN', 'only the radiologist who claimed the study can report it');
    }
    return [studyId, reportHash];
  }

  async prepareGaslessWithdraw(radiologist: string, amount: string): Promise<GaslessRequest> {
    const value = parseAmount(amount, 'amount');
    if (value === 0n) throw new OpenReadError('BAD_INPUT', 'amount must be positive');
    return this.relay.prepare(radiologist, 'withdraw', [value]);
  }

  async relayGasless(
    signer: string,
    request: ForwardRequestInput,
    signature: string,
    roles: ReadonlySet<Role>,
  ): Promise<RelayedTransaction> {
    return this.readYourWrite(await this.relay.submit(signer, request, signature, roles));
  }

  async relayTransaction(sender: string, signed: string, roles: ReadonlySet<Role>): Promise<RelayedTransaction> {
    const sent = await this.chain.relay(signed, sender, roles, async (call) => {
      if (call.name === 'postStudy') await this.postings.checkRelayedPosting(sender, call.args[0] as string);
      // the token's approve is relayed only as the first half of a deposit: for the market
      if (call.name === 'approve' && String(call.args[0]).toLowerCase() !== this.config.contracts.market)
        throw new OpenReadError('BAD_INPUT', 'only an approve of the study market (from prepareRoDeposit) can be relayed');
    });
    return this.readYourWrite(sent);
  }

  /** Waits (bounded) until the index includes the block of a write we just answered for, so reads do not contradict it. */
  private async readYourWrite(tx: { txHash: string; blockNumber: number; function: string }): Promise<RelayedTransaction> {
    return { ...tx, indexed: await this.finality.waitForIndexed(tx.blockNumber) };
  }
}
