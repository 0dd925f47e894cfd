/** Shared set-up for the contract tests: a fresh anvil per test file, the dev accounts, the deployment. */
import { createProvider, decodeThrownError, issueStudyId, waitForReceipt, type StudyIdIssuance } from '#chain';
import {
  ANVIL_MNEMONIC,
  contracts,
  deployOpenRead,
  startAnvil,
  type AnvilHandle,
  type Deployment,
  type OpenReadContracts,
} from '#devchain';
import { expect } from 'vitest';
import {
  HDNodeWallet,
  Mnemonic,
  id as keccakId,
  type ContractTransactionResponse,
  type JsonRpcProvider,
  type TransactionReceipt,
} from 'ethers';

export const USD = 1_000_000n; // 6 decimals
const TEN_YEARS_ON = () => BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * 86400);
export const VERIFIER_ROLE = keccakId('VERIFIER_ROLE');
export const ALL_STATES = (1n << 51n) - 1n;
export const ALL_MODALITIES = (1n << 7n) - 1n;
export const Status = { None: 0n, Open: 1n, Claimed: 2n, Reported: 3n, Disputed: 4n, Settled: 5n, Cancelled: 6n } as const;

export interface World {
  anvil: AnvilHandle;
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** wallets 0..9 of the dev mnemonic, connected */
  wallets: HDNodeWallet[];
  owner: HDNodeWallet;
  verifier: HDNodeWallet;
  treasury: HDNodeWallet;
  /** the market's study-ID issuer (dev account #11, as in npm start) */
  issuer: HDNodeWallet;
  /** issueStudyId with the world's issuer and market for `ro` (issuedUntil default: ten years from now, so time travel in tests does not expire it) */
  issue(ro: string, studyId: string, issuedUntil?: bigint): StudyIdIssuance;
  /** contracts connected to the owner */
  c: OpenReadContracts;
  as(wallet: HDNodeWallet): OpenReadContracts;
}

export async function startWorld(): Promise<World> {
  const anvil = await startAnvil();
  const provider = createProvider(anvil.rpcUrl);
  const mnemonic = Mnemonic.fromPhrase(ANVIL_MNEMONIC);
  const wallets = Array.from({ length: 10 }, (_, i) => HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${i}`).connect(provider));
  const [owner, verifier] = wallets;
  const treasury = wallets[9];
  const issuer = HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/11`);
  const deployment = await deployOpenRead(owner, { treasury: treasury.address, studyIdIssuer: issuer.address });
  const c = contracts(deployment, owner);
  await send(c.registry.grantRole(VERIFIER_ROLE, verifier.address));
  return {
    anvil,
    provider,
    deployment,
    wallets,
    owner,
    verifier,
    treasury,
    issuer,
    issue: (ro, studyId, issuedUntil) =>
      issueStudyId(issuer.privateKey, deployment.market, deployment.chainId, ro, studyId, issuedUntil ?? TEN_YEARS_ON()),
    c,
    as: (wallet) => contracts(deployment, wallet),
  };
}

/**
 * Sends (already sent) and waits for the receipt; fails the test on a revert. A transaction can pass its gas estimate
 * and still revert when mined (a time boundary crossed in between on a loaded machine): the error then carries the
 * revert data from anvil's trace, so it decodes to the custom error like a refused estimate does.
 */
export async function send(tx: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  const sent = await tx;
  const receipt = await waitForReceipt(sent.provider, sent.hash, 60_000);
  if (!receipt) throw new Error(`transaction ${sent.hash} not mined within 60 s`);
  if (receipt.status === 1) return receipt;
  const trace = (await (sent.provider as JsonRpcProvider)
    .send('debug_traceTransaction', [sent.hash, { tracer: 'callTracer' }])
    .catch(() => null)) as { output?: string } | null;
  throw Object.assign(new Error(`transaction ${sent.hash} reverted when mined`), { data: trace?.output });
}

/** Error names seen by expectError, to check that every custom error is exercised. */
export const seenErrors = new Set<string>();

/** Expects the call to revert with the custom error `name` (and, if given, these arguments). */
export async function expectError(action: Promise<unknown> | (() => Promise<unknown>), name: string, args?: unknown[]): Promise<void> {
  let thrown: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected a revert with ${name}`).toBeDefined();
  const decoded = decodeThrownError(thrown);
  expect(decoded?.name, `revert data of: ${String((thrown as Error).message).slice(0, 300)}`).toBe(name);
  if (args) expect(decoded?.args).toEqual(args);
  seenErrors.add(name);
}

export async function blockTimestamp(provider: JsonRpcProvider, blockNumber: number): Promise<bigint> {
  const block = await provider.getBlock(blockNumber);
  if (!block) throw new Error(`no block ${blockNumber}`);
  return BigInt(block.timestamp);
}

/** The parsed events of `contractName` in a receipt. */
export function eventsOf(c: OpenReadContracts, receipt: TransactionReceipt, name: string) {
  const out: { name: string; args: Record<string, unknown> & unknown[] }[] = [];
  for (const log of receipt.logs) {
    for (const contract of [c.market, c.parameters, c.registry, c.token]) {
      if (log.address.toLowerCase() !== String(contract.target).toLowerCase()) continue;
      const parsed = contract.interface.parseLog(log);
      if (parsed && parsed.name === name) out.push({ name: parsed.name, args: parsed.args as never });
    }
  }
  return out;
}

/** Deterministic PRNG (mulberry32) so random tests are reproducible. */
export { seededRandom as prng } from '#domain';

/**
 * Escrow conservation: market balances of all known accounts + maxBounty of every study not Settled/Cancelled
 * == token balance of the market.
 */
export async function assertConserved(w: World, accounts: string[], studyIds: string[]): Promise<void> {
  const [balances, studies, held] = await Promise.all([
    Promise.all([...new Set([...accounts, w.treasury.address])].map((a) => w.c.market.balanceOf(a) as Promise<bigint>)),
    Promise.all(studyIds.map((id) => w.c.market.getStudy(id))),
    w.c.token.balanceOf(w.deployment.market) as Promise<bigint>,
  ]);
  let sum = balances.reduce((a, b) => a + b, 0n);
  for (const s of studies) {
    if (s.status !== Status.Settled && s.status !== Status.Cancelled && s.status !== Status.None) sum += s.maxBounty as bigint;
  }
  expect(sum, 'escrow conservation').toBe(held);
}
