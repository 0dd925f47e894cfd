import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { JsonRpcProvider } from 'ethers';
import { APP_CONFIG, PollingLoop, RepeatLog, type AppConfig } from '#config';
import { createProvider } from '#chain';
import { CredentialRepository } from '#db';

const DAY = 86_400;

/**
 * Credential expiry: warns radiologists ahead of it (each threshold of `credentialWarnDays` once) and tells them
 * when it has lapsed. Notifications are rows in `notifications`, unique per (recipient, kind, expiry, threshold),
 * so restarts and several settlers never send one twice.
 *
 * Suspension relies on the attested expiry rather than a revoke transaction: CredentialRegistry.isEligible and
 * the worklist SQL both compare the expiry with chain time, so eligibility ends at the same instant in both, with
 * no transaction to send, pay for, or lose a race with (a claim in the same block as a revoke). The expiry is the
 * earliest licence expiry capped at 36 months (recredentialing), fixed at approval; a renewed licence or
 * recredentialing means a new application and a new attestation. Revocation stays for early ends (a suspended
 * licence), which are a verifier's decision.
 *
 * Notices hold no personal data beyond what the radiologist gave (the licensing state); logs hold only counts.
 */
@Injectable()
export class CredentialWatchService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('CredentialWatch');
  private readonly failures = new RepeatLog(this.logger);
  private readonly provider: JsonRpcProvider;
  private readonly loop: PollingLoop;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: CredentialRepository,
  ) {
    this.provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
    this.loop = new PollingLoop(
      () => this.tick(),
      config.settler.credentialWatchMs,
      (e) => this.failures.error(`credential watch failed: ${e.message.split('\n')[0]}`),
      () => this.failures.ok('credential watch recovered'),
      'credentials',
    );
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    this.provider.destroy();
  }

  /** One pass at chain time; returns how many new notifications it recorded. */
  async tick(): Promise<{ warned: number; lapsed: number }> {
    const latest = await this.provider.getBlock('latest');
    if (!latest) return { warned: 0, lapsed: 0 };
    const now = latest.timestamp;
    const thresholds = [...new Set(this.config.settler.credentialWarnDays)].sort((a, b) => a - b);
    const { chainId } = this.config;
    let warned = 0;
    let lapsed = 0;
    for (const c of await this.repo.expiringBefore(chainId, now + thresholds.at(-1)! * DAY)) {
      const when = new Date(c.expiresAt * 1000).toISOString();
      const why = describe(c.expiryReason);
      if (c.expiresAt <= now) {
        const message = `Your credential lapsed at ${when} (${why}): you cannot see or claim studies until a verifier approves a new application.`;
        if (await this.repo.notify(chainId, c.radiologist, 'CREDENTIAL_LAPSED', String(c.expiresAt), message)) lapsed++;
        continue;
      }
      // the tightest threshold already reached: a credential first seen 5 days ahead gets the 7-day notice only
      const days = thresholds.find((d) => c.expiresAt - now <= d * DAY)!;
      const left = Math.ceil((c.expiresAt - now) / DAY);
      const message = `Your credential expires at ${when}, in ${left} day(s) (${why}). Apply again with renewed licences to stay eligible.`;
      if (await this.repo.notify(chainId, c.radiologist, 'CREDENTIAL_EXPIRING', `${c.expiresAt}:${days}d`, message)) warned++;
    }
    if (warned || lapsed) this.logger.log(`credential notices: ${warned} expiring, ${lapsed} lapsed`);
    return { warned, lapsed };
  }
}

function describe(reason: string | null): string {
  if (reason === 'RECREDENTIAL') return 'recredentialing is due every 36 months';
  if (reason?.startsWith('LICENCE:')) return `your ${reason.slice(8)} licence expires`;
  return 'the attested expiry';
}
