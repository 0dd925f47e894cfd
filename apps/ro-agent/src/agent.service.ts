import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { JsonRpcProvider } from 'ethers';
import { APP_CONFIG, PollingLoop, RepeatLog, type AppConfig } from '#config';
import { createProvider } from '#chain';
import { LeasePackageRepository, RoAgentRepository } from '#db';
import { ExpiredUseRecorder, RoAgent, type AgentDecision, type ExpiredUseDecision } from '#lease';
import { DirectoryHoldings } from './holdings.js';
import { KEY_SERVICE, type KeyService } from './keys.js';

/** The agent's settings once checked at start (main.ts refuses to start without them). */
export interface AgentSettings {
  custody: string;
  ro: string;
  signerKeyId: bigint;
}

/** What the settings of `config` lack for the agent to run (empty: it can run). */
export function missingAgentSettings(config: AppConfig): string[] {
  return [
    ...(config.contracts.studyCustody ? [] : ['STUDY_CUSTODY_ADDRESS']),
    ...(config.roAgent.keyFile ? [] : ['RO_AGENT_KEY_FILE']),
    ...(config.roAgent.ro ? [] : ['RO_AGENT_RO']),
    ...(config.roAgent.signerKeyId ? [] : ['RO_AGENT_SIGNER_KEY_ID']),
  ];
}

/**
 * The agent's work on a timer: each pass scans the chain for lease requests to this RO (RoAgent: grant, deny or
 * queue by the policy) and then the access log for fetches refused after expiry (ExpiredUseRecorder: one
 * recordExpiredUse per lease and account). Both send from the RO's sender one at a time (RoAgent.exclusively).
 * Nothing is kept across restarts but what the chain and the database hold: a restart rescans from the deployment
 * block, answered requests are skipped, still-open ones (the manual queue) are queued again, and recorded expired
 * uses are found on chain.
 */
@Injectable()
export class AgentService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('RoAgent');
  private readonly failures = new RepeatLog(this.logger);
  readonly provider: JsonRpcProvider;
  readonly agent: RoAgent;
  readonly recorder: ExpiredUseRecorder;
  private readonly loop: PollingLoop;
  private readonly listeners: { decisions: (d: AgentDecision[]) => void; uses: (d: ExpiredUseDecision[]) => void }[] = [];

  constructor(
    @Inject(APP_CONFIG) readonly config: AppConfig,
    @Inject(KEY_SERVICE) keys: KeyService,
    packages: LeasePackageRepository,
    fetches: RoAgentRepository,
  ) {
    const settings = agentSettings(config);
    this.provider = createProvider(config.rpcUrl, { timeoutMs: config.dependencyTimeoutMs });
    const sender = keys.sender(this.provider);
    const log = { log: (m: string) => this.logger.log(m), warn: (m: string) => this.logger.warn(m) };
    this.agent = new RoAgent({
      provider: this.provider,
      chainId: config.chainId,
      custody: settings.custody,
      ro: settings.ro,
      sender,
      signer: keys.signer(),
      signerKeyId: settings.signerKeyId,
      holdings: new DirectoryHoldings(config.roAgent.holdingsDir, keys),
      store: packages,
      policy: { mode: config.roAgent.policy },
      fromBlock: config.contracts.deployBlock,
      logger: log,
    });
    this.recorder = new ExpiredUseRecorder({
      provider: this.provider,
      chainId: config.chainId,
      custody: settings.custody,
      ro: settings.ro,
      sender,
      source: fetches,
      fromBlock: config.contracts.deployBlock,
      exclusively: (work) => this.agent.exclusively(work),
      logger: log,
    });
    this.loop = new PollingLoop(
      () => this.pass(),
      config.roAgent.pollMs,
      (e) => this.failures.error(`agent pass failed, retried: ${e.message}`),
      () => this.failures.ok(),
      'agent',
    );
  }

  /** Called with each pass's decisions (the metrics count them). */
  onDecisions(decisions: (d: AgentDecision[]) => void, uses: (d: ExpiredUseDecision[]) => void): void {
    this.listeners.push({ decisions, uses });
  }

  private async pass(): Promise<void> {
    const decisions = await this.agent.poll();
    for (const l of this.listeners) l.decisions(decisions);
    const uses = await this.recorder.poll();
    for (const l of this.listeners) l.uses(uses);
  }

  /** A person's decision on a queued request (policy `manual`); counted like the loop's. */
  async decide(leaseId: bigint, grant: boolean): Promise<AgentDecision> {
    const d = grant ? await this.agent.approve(leaseId) : await this.agent.reject(leaseId);
    for (const l of this.listeners) l.decisions([d]);
    return d;
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    await this.agent.stop();
    this.provider.destroy();
  }
}

export function agentSettings(config: AppConfig): AgentSettings {
  const missing = missingAgentSettings(config);
  if (missing.length) throw new Error(`the RO agent needs ${missing.join(', ')}`);
  return { custody: config.contracts.studyCustody!, ro: config.roAgent.ro!, signerKeyId: BigInt(config.roAgent.signerKeyId!) };
}
