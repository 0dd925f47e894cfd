import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { AccessLogRepository, ExchangeRepository, RoRepository, StudyRepository, StudyVaultRepository } from '#db';
import { ChainService } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';

/** Why an account may read a stored study: its RO's member, the claimant while the lease runs, or a lessee. */
export type ReaderKind = 'OWNER' | 'CLAIMANT' | 'LESSEE';

/** Exchange leases of the caller's ROs looked at for one study (the repository lists an RO's leases newest first). */
const LEASES_SCANNED = 500;

/**
 * Who may write and read a study's stored chunks. Writing: a depositor of the RO that prepared the posting.
 * Reading: a member (depositor or billing) of that RO; the radiologist holding the claim, while its lease runs by
 * chain time and once the RO issued the lease (as for the base64 payload); a member of an RO whose exchange lease
 * of the study is granted (or renewed) and not past its expiry. Everyone else is FORBIDDEN, whether the study exists
 * or not (study IDs are not for probing).
 */
@Injectable()
export class StorageAccessService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly vault: StudyVaultRepository,
    private readonly ros: RoRepository,
    private readonly studies: StudyRepository,
    private readonly exchange: ExchangeRepository,
    private readonly log: AccessLogRepository,
    private readonly chain: ChainService,
  ) {}

  /** The RO whose depositor `account` is, if it prepared `studyId`; FORBIDDEN otherwise. */
  async writer(account: string, studyId: string): Promise<{ roId: string }> {
    const ro = await this.ros.roOfDepositor(this.config.chainId, account);
    if (!ro) throw new OpenReadError('FORBIDDEN', 'only an RO depositor stores study chunks');
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting || posting.roId !== ro.id) throw new OpenReadError('FORBIDDEN', "store chunks only of your RO's own postings");
    return { roId: ro.id };
  }

  async reader(account: string, studyId: string): Promise<ReaderKind> {
    const chainId = this.config.chainId;
    const forbidden = new OpenReadError('FORBIDDEN', 'only the RO, the radiologist holding the claim, or a lessee may read this study');
    const posting = await this.vault.posting(chainId, studyId);
    if (!posting) throw forbidden;
    const memberships = await this.ros.membershipsOf(chainId, account);
    if (memberships.some((m) => m.roId === posting.roId)) return 'OWNER';
    const study = await this.studies.findById(chainId, studyId);
    if (study && study.radiologist === account) {
      if (study.status !== 'CLAIMED' || study.leaseExpiresAt === null || (await this.chain.now()) > study.leaseExpiresAt)
        throw new OpenReadError('LEASE_EXPIRED', 'your lease on this study has ended');
      if (!(await this.vault.lease(chainId, studyId, account, study.leaseExpiresAt)))
        throw new OpenReadError('NOT_FOUND', 'the RO has not issued your lease yet; try again shortly');
      return 'CLAIMANT';
    }
    // a former claimant (lease released, study re-opened or re-claimed) holds an expired lease
    if (await this.vault.latestLease(chainId, studyId, account))
      throw new OpenReadError('LEASE_EXPIRED', 'your lease on this study has ended');
    if (memberships.length) {
      const wallets = (await Promise.all(memberships.map((m) => this.ros.members(m.roId)))).flat().map((m) => m.account);
      const mine = await this.exchange.rosOfAccounts(chainId, wallets);
      if (mine.length) {
        const leases = (await this.exchange.leases(chainId, mine, 'ANY', LEASES_SCANNED)).filter(
          (l) => l.studyId === studyId && mine.includes(l.requester) && (l.status === 'GRANTED' || l.status === 'RENEWED'),
        );
        if (leases.length) {
          const now = await this.chain.now(0);
          if (leases.some((l) => l.expiresAt !== null && now <= l.expiresAt)) return 'LESSEE';
          throw new OpenReadError('LEASE_EXPIRED', 'this lease has expired; ask the custodian to renew it');
        }
      }
    }
    throw forbidden;
  }

  /** A reader other than the RO started reading the study (its manifest): the access log the RO reads says so. */
  async logRead(account: string, studyId: string, kind: ReaderKind): Promise<void> {
    if (kind === 'OWNER') return;
    await this.log.append({
      chainId: this.config.chainId,
      studyId,
      account,
      action: kind === 'CLAIMANT' ? 'FETCH_PAYLOAD' : 'FETCH_LEASE',
      outcome: 'GRANTED',
    });
  }
}
