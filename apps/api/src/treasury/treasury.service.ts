import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { Interface, Signature, TypedDataEncoder, recoverAddress } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import {
  loadArtifact,
  SAFE_TX_TYPES,
  multiSendBatch,
  safeAbi,
  safeDomain,
  safeInfrastructureAddresses,
  safeTxMessage,
  type SafeInfrastructure,
  SAFE_ERRORS,
  classifyChainError,
} from '#chain';
import { TreasuryProposalRow, TreasuryRepository, type TreasuryPayment } from '#db';
import type { Role, RoleProvider } from '../common/access.js';
import { ChainService } from '../chain/index.js';
import { chainError, chainUnavailable } from '../common/chain-errors.js';
import { OpenReadError } from '../common/errors.js';
import { typedDataShapes } from '../common/graphql/typed-data.js';
import { TransactionOutbox, outcome } from '../relay/index.js';

export interface SafeState {
  address: string;
  owners: string[];
  threshold: number;
}

/** Attempts at taking the next free nonce when concurrent proposals race for it. */
const NONCE_ATTEMPTS = 5;

/**
 * The protocol treasury: the market's `treasury()`, a Safe 1.4.1. Payouts are one Safe transaction each (a
 * MultiSend batch: market.withdraw + token transfers) at a nonce the service allocates; owners sign its SafeTx
 * hash (EIP-712) with their wallets; at threshold the service's relayer key sends execTransaction with the
 * signatures, through the transaction outbox (the worker's sender). The Safe itself enforces the threshold and the nonce; the service refuses early with clear codes.
 */
@Injectable()
export class TreasuryService implements OnModuleInit, RoleProvider {
  private readonly safeIface = new Interface(safeAbi());
  private readonly marketIface = new Interface(loadArtifact('StudyMarket').abi);
  private readonly tokenIface = new Interface(loadArtifact('TestUSD').abi);
  private readonly infra: SafeInfrastructure;
  /** the treasury relayer key's address (the sender of its outbox rows) */
  private relayer: string | null = null;
  private cached: { at: number; state: SafeState | null } | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly chain: ChainService,
    private readonly repo: TreasuryRepository,
    private readonly transactions: TransactionOutbox,
  ) {
    this.infra = safeInfrastructureAddresses(config.chainId);
  }

  onModuleInit(): void {
    this.relayer = this.transactions.keyAddress(this.config.treasury.relayerPrivateKey);
  }

  /** The treasury Safe's address, owners and threshold (cached TREASURY_OWNERS_CACHE_MS unless `fresh`); null if it is not a Safe. */
  async state(fresh = false): Promise<SafeState | null> {
    if (!fresh && this.cached && Date.now() - this.cached.at < this.config.treasury.ownersCacheMs) return this.cached.state;
    const address = String(await this.read(this.config.contracts.market, this.marketIface, 'treasury')).toLowerCase();
    let state: SafeState | null = null;
    if ((await this.chain.provider.getCode(address).catch(() => unavailable())) !== '0x') {
      try {
        const [owners, threshold] = await Promise.all([
          this.read(address, this.safeIface, 'getOwners'),
          this.read(address, this.safeIface, 'getThreshold'),
        ]);
        state = { address, owners: (owners as string[]).map((o) => o.toLowerCase()), threshold: Number(threshold) };
      } catch (e) {
        if (e instanceof OpenReadError && e.code === 'CHAIN_UNAVAILABLE') throw e;
        state = null; // a contract, but not a Safe
      }
    }
    this.cached = { at: Date.now(), state };
    return state;
  }

  /** The Safe, or NOT_FOUND. */
  async safe(fresh = false): Promise<SafeState> {
    const s = await this.state(fresh);
    if (!s) throw new OpenReadError('NOT_FOUND', 'the market treasury is not a Safe on this deployment');
    return s;
  }

  /** TREASURY_OWNER for the owners of the treasury Safe (RoleProvider). */
  async rolesOf(address: string): Promise<Role[]> {
    return (await this.isOwner(address)) ? ['TREASURY_OWNER'] : [];
  }

  /** Whether `address` owns the treasury Safe (the TREASURY_OWNER role); false when the chain cannot tell. */
  async isOwner(address: string): Promise<boolean> {
    const s = await this.state().catch(() => null);
    return !!s?.owners.includes(address.toLowerCase());
  }

  async balances(safe: string): Promise<{ nonce: bigint; marketBalance: bigint; tokenBalance: bigint }> {
    const [nonce, marketBalance, tokenBalance] = await Promise.all([
      this.read(safe, this.safeIface, 'nonce'),
      this.read(this.config.contracts.market, this.marketIface, 'balanceOf', [safe]),
      this.read(this.config.contracts.token, this.tokenIface, 'balanceOf', [safe]),
    ]);
    return { nonce: nonce as bigint, marketBalance: marketBalance as bigint, tokenBalance: tokenBalance as bigint };
  }

  /**
   * Proposes paying `payments` out of the treasury's market balance. Without `replaces` it takes the next nonce above
   * both the Safe's on-chain nonce and the highest pending proposal (the unique (safe, nonce) index settles races);
   * with `replaces` it takes that pending proposal's nonce, and whichever of them executes first replaces the others.
   */
  async propose(proposer: string, payments: TreasuryPayment[], description: string, replaces: TreasuryProposalRow | null): Promise<string> {
    const { address: safe } = await this.safe();
    const total = payments.reduce((sum, p) => sum + BigInt(p.amount), 0n);
    const { nonce: onChainNonce, marketBalance } = await this.balances(safe);
    if (marketBalance < total)
      throw new OpenReadError('CONFLICT', `the treasury's market balance (${marketBalance}) does not cover the payout (${total})`, {
        reason: 'INSUFFICIENT_TREASURY_BALANCE',
      });
    if ((await this.chain.provider.getCode(this.infra.multiSendCallOnlyAddress).catch(() => unavailable())) === '0x')
      throw new OpenReadError('NOT_FOUND', 'the Safe MultiSendCallOnly contract is not deployed on this chain');
    const batch = multiSendBatch(this.infra, [
      { to: this.config.contracts.market, value: 0n, data: this.marketIface.encodeFunctionData('withdraw', [total]) },
      ...payments.map((p) => ({
        to: this.config.contracts.token,
        value: 0n,
        data: this.tokenIface.encodeFunctionData('transfer', [p.to, BigInt(p.amount)]),
      })),
    ]);
    const row = (nonce: bigint) => ({
      chainId: this.config.chainId,
      safe,
      nonce,
      safeTxHash: this.safeTxHash(safe, batch, nonce),
      to: batch.to.toLowerCase(),
      value: batch.value,
      data: batch.data.toLowerCase(),
      operation: batch.operation,
      payments,
      description,
      proposer,
      replaces: replaces ? (replaces.replaces ?? replaces.id) : null,
    });
    if (replaces) {
      if (replaces.safe !== safe || replaces.status !== 'PENDING')
        throw new OpenReadError('CONFLICT', 'only a pending proposal of the current treasury can be replaced', { reason: replaces.status });
      const id = await this.repo.insert(row(replaces.nonce));
      if (!id) throw new OpenReadError('INTERNAL', 'a replacement must not take a fresh nonce');
      return id;
    }
    await this.reconcile(safe, onChainNonce);
    for (let attempt = 0; attempt < NONCE_ATTEMPTS; attempt++) {
      const pending = await this.repo.highestPendingNonce(this.config.chainId, safe);
      const nonce = pending !== null && pending + 1n > onChainNonce ? pending + 1n : onChainNonce;
      const id = await this.repo.insert(row(nonce));
      if (id) return id;
    }
    throw new OpenReadError('CONFLICT', 'too many payouts were proposed at once: try again');
  }

  /** The EIP-712 SafeTx an owner signs: for ethers (typedData) and for eth_signTypedData_v4 (typedDataV4). */
  typedData(p: TreasuryProposalRow): { typedData: Record<string, unknown>; typedDataV4: Record<string, unknown> } {
    const domain = { chainId: this.config.chainId, verifyingContract: safeDomain(this.config.chainId, p.safe).verifyingContract };
    return typedDataShapes(domain, SAFE_TX_TYPES, 'SafeTx', safeTxMessage(p, p.nonce) as unknown as Record<string, unknown>);
  }

  /** Verifies that `signature` over the proposal's SafeTx hash is `signer`'s and that `signer` owns the Safe; returns it normalised (v 27/28). */
  async verifySignature(p: TreasuryProposalRow, signer: string, signature: string): Promise<string> {
    let sig: Signature;
    try {
      sig = Signature.from(signature);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'signature must be a 65-byte 0x-prefixed hex ECDSA signature');
    }
    if (recoverAddress(p.safeTxHash, sig).toLowerCase() !== signer)
      throw new OpenReadError(
        'BAD_INPUT',
        "the signature does not recover to your address: sign the proposal's typedData (EIP-712 SafeTx) with your wallet",
        {
          reason: 'SIGNER_MISMATCH',
        },
      );
    const { owners } = await this.safe(true);
    if (!owners.includes(signer)) throw new OpenReadError('FORBIDDEN', 'only a current owner of the treasury Safe can sign');
    return sig.serialized.toLowerCase();
  }

  /**
   * Executes a pending proposal at threshold: its nonce must be the Safe's next, and at least `threshold` of its
   * signatures must come from current owners (fewer never execute: refused here, and the Safe would revert GS020).
   * Other proposals at the same nonce become REPLACED. The checks run when it is queued (once per proposal while
   * live: a second execution waits for the same transaction); a race lost after that (another proposal executed at
   * the nonce first) is refused by the sender's simulation, and the checks run again to say why.
   */
  async execute(id: string): Promise<{ txHash: string; blockNumber: number }> {
    const relayer = this.relayer;
    if (!relayer) throw new OpenReadError('CHAIN_UNAVAILABLE', 'no treasury relayer key is configured (TREASURY_RELAYER_PRIVATE_KEY)');
    const p = await this.load(id);
    const { row } = await this.transactions.enqueue({
      purpose: 'treasury',
      sender: relayer,
      target: p.safe,
      function: 'execTransaction',
      data: await this.executable(id, relayer),
      dedupeKey: `execTransaction:${p.id}`,
    });
    let sent: { txHash: string; blockNumber: number };
    try {
      sent = outcome(await this.transactions.settled(row.id));
    } catch (e) {
      if (e instanceof OpenReadError && (e.code === 'CHAIN_UNAVAILABLE' || e.details?.txHash)) throw e;
      await this.executable(id, relayer); // the state that made the sender refuse it, as its own error
      throw e;
    }
    const receipt = await this.chain.provider.getTransactionReceipt(sent.txHash).catch(() => unavailable());
    const executed = receipt?.logs.some((l) => {
      if (l.address.toLowerCase() !== p.safe) return false;
      const parsed = this.safeIface.parseLog(l);
      return parsed?.name === 'ExecutionSuccess' && String(parsed.args.txHash).toLowerCase() === p.safeTxHash;
    });
    if (!executed) throw new OpenReadError('CONFLICT', 'the Safe did not execute the transaction', { txHash: sent.txHash });
    await this.repo.markExecuted(this.config.chainId, id, sent.txHash.toLowerCase());
    return { txHash: sent.txHash, blockNumber: sent.blockNumber };
  }

  /** The execTransaction calldata of a proposal that may execute now from `relayer`; its typed refusal otherwise. */
  private async executable(id: string, relayer: string): Promise<string> {
    const p = await this.load(id);
    if (p.status !== 'PENDING') throw new OpenReadError('CONFLICT', `the proposal is ${p.status.toLowerCase()}`, { reason: p.status });
    const { owners, threshold } = await this.safe(true);
    if (p.safe !== (await this.safe()).address)
      throw new OpenReadError('CONFLICT', 'the proposal is for a former treasury', { reason: 'NOT_THE_TREASURY' });
    const { nonce } = await this.balances(p.safe);
    if (p.nonce < nonce) {
      await this.reconcile(p.safe, nonce);
      const now = await this.load(id);
      throw now.status === 'EXECUTED'
        ? new OpenReadError('CONFLICT', `the proposal was already executed (${now.executedTx})`, { reason: 'EXECUTED' })
        : new OpenReadError('CONFLICT', `another transaction used nonce ${p.nonce}: this proposal was replaced`, { reason: 'REPLACED' });
    }
    if (p.nonce > nonce)
      throw new OpenReadError(
        'CONFLICT',
        `the Safe is at nonce ${nonce}: execute or replace the proposals queued before nonce ${p.nonce} first`,
        {
          reason: 'NONCE_NOT_REACHED',
          safeNonce: nonce.toString(),
        },
      );
    const valid = p.signatures.filter((s) => owners.includes(s.signer)).sort((a, b) => (a.signer < b.signer ? -1 : 1));
    if (valid.length < threshold)
      throw new OpenReadError('CONFLICT', `${valid.length} of the ${threshold} owner signatures needed: collect more before executing`, {
        reason: 'BELOW_THRESHOLD',
        signatures: valid.length,
        threshold,
      });
    const m = safeTxMessage(p, p.nonce);
    const signatures = `0x${valid
      .slice(0, threshold)
      .map((s) => s.signature.slice(2))
      .join('')}`;
    const data = this.safeIface.encodeFunctionData('execTransaction', [
      m.to,
      m.value,
      m.data,
      m.operation,
      m.safeTxGas,
      m.baseGas,
      m.gasPrice,
      m.gasToken,
      m.refundReceiver,
      signatures,
    ]);
    // the Safe's own refusal (GS0xx: e.g. GS020 signatures too short, GS026 not the owners' signatures), by name;
    // other reverts with their own reason, from the same simulation
    try {
      await this.chain.provider.estimateGas({ from: relayer, to: p.safe, data });
    } catch (e) {
      const f = classifyChainError(e);
      if (f.kind === 'REVERTED' && f.reason && f.reason in SAFE_ERRORS)
        throw new OpenReadError(f.code, `the Safe refused the transaction (${f.reason}: ${f.message})`, { reason: f.reason });
      throw chainError(e);
    }
    return data;
  }

  /**
   * Brings pending proposals up to date with the Safe: those below its on-chain nonce were executed (their SafeTx
   * hash has an ExecutionSuccess, e.g. an owner submitted the collected signatures in the Safe app, or the service
   * stopped before recording its own execution) or replaced (another transaction used the nonce).
   */
  async reconcile(safe: string, onChainNonce?: bigint): Promise<void> {
    const nonce = onChainNonce ?? (await this.balances(safe)).nonce;
    const topic = this.safeIface.getEvent('ExecutionSuccess')!.topicHash;
    for (const p of await this.repo.pendingBelow(this.config.chainId, safe, nonce)) {
      const logs = await this.chain.provider
        .getLogs({ address: safe, topics: [topic, p.safeTxHash], fromBlock: this.config.contracts.deployBlock })
        .catch(() => unavailable());
      if (logs.length) await this.repo.markExecuted(this.config.chainId, p.id, logs[0].transactionHash.toLowerCase());
    }
    await this.repo.markStale(this.config.chainId, safe, nonce);
  }

  async load(id: string): Promise<TreasuryProposalRow> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
      throw new OpenReadError('BAD_INPUT', 'id must be a proposal UUID');
    const p = await this.repo.proposal(this.config.chainId, id.toLowerCase());
    if (!p) throw new OpenReadError('NOT_FOUND', 'no such treasury proposal');
    return p;
  }

  private safeTxHash(safe: string, tx: { to: string; value: bigint; data: string; operation: number }, nonce: bigint): string {
    return TypedDataEncoder.hash(safeDomain(this.config.chainId, safe), SAFE_TX_TYPES, safeTxMessage(tx, nonce)).toLowerCase();
  }

  private async read(to: string, iface: Interface, fn: string, args: unknown[] = []): Promise<unknown> {
    let raw: string;
    try {
      raw = await this.chain.provider.call({ to, data: iface.encodeFunctionData(fn, args) });
    } catch (e) {
      // a getter that reverts: not the contract the treasury expects (e.g. not a Safe)
      if (classifyChainError(e).kind === 'REVERTED') throw new OpenReadError('CONFLICT', `${fn} reverted`);
      throw chainError(e);
    }
    try {
      return iface.decodeFunctionResult(fn, raw)[0];
    } catch {
      throw new OpenReadError('CONFLICT', `${fn}: unexpected answer from ${to}`);
    }
  }
}

function unavailable(): never {
  throw chainUnavailable();
}
