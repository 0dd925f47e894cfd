import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { StudyVaultRepository } from '#db';
import {
  MODALITIES,
  URGENCIES,
  US_STATES,
  modalityIndex,
  stateIndex,
  urgencyIndex,
  BODY_PARTS,
  PHI_DESCRIPTIONS,
  screenForPhi,
} from '#domain';
import { SigningKey } from 'ethers';
import { DEFAULT_ISSUANCE_SECONDS, issueStudyId } from '#chain';
import { ChainService, UnsignedTx } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';
import { parseAmount, parseStudyId } from '../common/validation.js';
import { RoAccessService } from './ro-access.service.js';
import type { StudyPostingInput } from './ro.models.js';

const MAX_UINT128 = (1n << 128n) - 1n;
const MIN_DIFFICULTY_BPS = 1_000;
const MAX_DIFFICULTY_BPS = 100_000;

export interface PreparedStudyPosting {
  studyId: string;
  /** the issuance's last valid second (unix) */
  issuedUntil: bigint;
  /** the study-ID issuer's EIP-712 signature of StudyIdIssuance(studyId, depositor, issuedUntil) */
  issuance: string;
  /** postStudy with every argument, the issuance included */
  transaction: UnsignedTx;
}

/**
 * An RO's side of posting: validates that only de-identified metadata comes in, generates the study ID
 * (32 bytes of crypto randomness, checked unused on chain), signs its issuance with the study-ID issuer key (the
 * market accepts no other ID: a self-chosen one could be derived from patient data), prepares postStudy for the
 * depositor wallet, and takes the encrypted payload. The server never sees a study key or plaintext.
 */
@Injectable()
export class PostingService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly access: RoAccessService,
    private readonly vault: StudyVaultRepository,
    private readonly chain: ChainService,
  ) {
    this.issuer = config.api.studyIdIssuerPrivateKey ? new SigningKey(config.api.studyIdIssuerPrivateKey) : null;
  }

  private readonly issuer: SigningKey | null;

  async prepare(depositor: string, input: StudyPostingInput): Promise<PreparedStudyPosting> {
    if (!this.issuer) throw new OpenReadError('CHAIN_UNAVAILABLE', 'posting is not configured on this server (no study-ID issuer key)');
    // the PHI screen runs first, and its errors never echo the value
    const phi = screenForPhi({
      bodyPart: input.bodyPart,
      patientState: input.patientState,
      maxBounty: /^\d+$/.test(input.maxBounty) ? null : input.maxBounty,
    });
    if (phi.length) {
      const [{ field, kind }] = phi;
      throw new OpenReadError(
        'BAD_INPUT',
        `${field} looks like ${PHI_DESCRIPTIONS[kind]}; only de-identified metadata is accepted, never patient data`,
        {
          field,
          reason: 'LOOKS_LIKE_PHI',
          phiKind: kind,
        },
      );
    }
    const bodyPart = input.bodyPart.toUpperCase();
    if (!(BODY_PARTS as readonly string[]).includes(bodyPart))
      throw new OpenReadError('BAD_INPUT', `bodyPart must be one of ${BODY_PARTS.join(', ')}`, { field: 'bodyPart' });
    const state = input.patientState.toUpperCase();
    if (!(US_STATES as readonly string[]).includes(state))
      throw new OpenReadError('BAD_INPUT', 'patientState must be a USPS state code', { field: 'patientState' });
    if (!MODALITIES.includes(input.modality as never) || !URGENCIES.includes(input.urgency as never))
      throw new OpenReadError('BAD_INPUT', 'unknown modality or urgency');
    if (!Number.isInteger(input.difficultyBps) || input.difficultyBps < MIN_DIFFICULTY_BPS || input.difficultyBps > MAX_DIFFICULTY_BPS)
      throw new OpenReadError('BAD_INPUT', `difficultyBps must be between ${MIN_DIFFICULTY_BPS} and ${MAX_DIFFICULTY_BPS}`, {
        field: 'difficultyBps',
      });
    const maxBounty = parseAmount(input.maxBounty, 'maxBounty');
    if (maxBounty === 0n || maxBounty > MAX_UINT128)
      throw new OpenReadError('BAD_INPUT', 'maxBounty must be positive and below 2^128', { field: 'maxBounty' });

    const ro = await this.access.depositorRo(depositor);
    // a prepared posting can be posted for an hour: only those count against the RO's quota of unposted studies
    const since = new Date(Date.now() - DEFAULT_ISSUANCE_SECONDS * 1000);
    if ((await this.vault.unpostedCount(this.config.chainId, ro.id, since)) >= this.config.api.roMaxUnpostedStudies)
      throw new OpenReadError('RATE_LIMITED', 'your RO has too many prepared postings not yet on chain: post or let them lapse (1 h)', {
        reason: 'QUOTA',
      });
    const studyId = await this.freshStudyId();
    if (!(await this.vault.createPosting(this.config.chainId, { studyId, roId: ro.id, bodyPart, preparedBy: depositor })))
      throw new OpenReadError('CONFLICT', 'study ID collision; try again');
    // valid for an hour from the later of our clock and the chain's (a test chain may run ahead of the wall clock)
    const head = await this.chain.provider.getBlock('latest');
    const now = Math.max(Math.floor(Date.now() / 1000), head?.timestamp ?? 0);
    const { issuedUntil, issuance } = issueStudyId(
      this.issuer,
      this.config.contracts.market,
      this.config.chainId,
      depositor,
      studyId,
      now + DEFAULT_ISSUANCE_SECONDS,
    );
    const transaction = await this.chain.prepare(depositor, 'postStudy', [
      studyId,
      modalityIndex(input.modality),
      input.difficultyBps,
      urgencyIndex(input.urgency),
      stateIndex(state),
      maxBounty,
      issuedUntil,
      issuance,
    ]);
    return { studyId, issuedUntil, issuance, transaction };
  }

  /** 32 random bytes, unused on chain. A repeat is astronomically unlikely; the loop makes it harmless anyway. */
  private async freshStudyId(): Promise<string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const id = `0x${randomBytes(32).toString('hex')}`;
      if (!(await this.chain.studyExists(id)) && !(await this.vault.posting(this.config.chainId, id))) return id;
    }
    throw new OpenReadError('INTERNAL', 'could not generate an unused study ID');
  }

  /** relayTransaction's extra check for postStudy: the ID must be one we generated for the sender's RO. */
  async checkRelayedPosting(depositor: string, rawStudyId: string): Promise<void> {
    const studyId = parseStudyId(rawStudyId);
    const ro = await this.access.depositorRo(depositor);
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting || posting.roId !== ro.id)
      throw new OpenReadError(
        'FORBIDDEN',
        'post only study IDs from prepareStudyPosting for your RO (random IDs, never derived from patient data)',
      );
  }

  /** Stores the encrypted payload (write-once) of a study the caller's RO prepared. */
  async upload(depositor: string, rawStudyId: string, ciphertextB64: string, keyForRoB64: string): Promise<{ sha256: string }> {
    const studyId = parseStudyId(rawStudyId);
    const ro = await this.access.depositorRo(depositor);
    const posting = await this.vault.posting(this.config.chainId, studyId);
    if (!posting || posting.roId !== ro.id) throw new OpenReadError('FORBIDDEN', "upload only payloads of your RO's own postings");
    const ciphertext = parseBase64(ciphertextB64, 'ciphertext');
    const keyForRo = parseBase64(keyForRoB64, 'keyForRo');
    // version ‖ nonce ‖ tag at least; a sealed 32-byte key is exactly 1 + 32 + 12 + 32 + 16 bytes
    if (ciphertext.length < 1 + 12 + 16 || ciphertext[0] !== 1)
      throw new OpenReadError('BAD_INPUT', 'ciphertext is not an encrypted payload envelope (v1)');
    if (keyForRo.length !== 93 || keyForRo[0] !== 1)
      throw new OpenReadError('BAD_INPUT', 'keyForRo must be the study key sealed to the RO key (v1, 93 bytes)');
    // Hazard: concurrent uploads of one RO can each pass this check, overshooting by at most their total size
    if ((await this.vault.livePayloadBytes(this.config.chainId, ro.id)) + ciphertext.length > this.config.api.roPayloadQuotaBytes)
      throw new OpenReadError(
        'RATE_LIMITED',
        "your RO's stored study payloads reached its quota: it frees as studies settle or are cancelled",
        {
          reason: 'QUOTA',
        },
      );
    const sha256 = createHash('sha256').update(ciphertext).digest();
    if (!(await this.vault.storePayload(this.config.chainId, studyId, ciphertext, sha256, keyForRo, depositor)))
      throw new OpenReadError('CONFLICT', 'this study already has a payload (payloads are write-once)');
    return { sha256: `0x${sha256.toString('hex')}` };
  }
}

export function parseBase64(v: string, field: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0 || v.length === 0)
    throw new OpenReadError('BAD_INPUT', `${field} must be base64`);
  return Buffer.from(v, 'base64');
}
