/**
 * Reentrancy: a market whose token calls the recipient back mid-transfer (ERC-777 / ERC-1363 style) and an
 * attacker contract that re-enters withdraw from that callback. The attacker must get out exactly what it put in.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Contract, ContractFactory, MaxUint256, ZeroAddress } from 'ethers';
import { decodeContractError, loadArtifact } from '#chain';
import { revert, snapshot } from '#devchain';
import { USD, send, startWorld, type World } from './fixture.js';

let w: World;
let token: Contract, market: Contract, attacker: Contract;

async function deploy(name: string, args: unknown[]): Promise<Contract> {
  const { abi, bytecode } = loadArtifact(name);
  const c = await new ContractFactory(abi, bytecode, w.owner).deploy(...args);
  await c.waitForDeployment();
  return new Contract(await c.getAddress(), abi, w.owner);
}

beforeAll(async () => {
  w = await startWorld();
  token = await deploy('HookToken', []);
  market = await deploy('StudyMarket', [
    token.target,
    w.deployment.parameters,
    w.deployment.registry,
    w.treasury.address,
    w.owner.address,
    ZeroAddress,
    w.issuer.address,
  ]);
  attacker = await deploy('ReentrancyAttacker', [market.target, token.target]);
  // an honest depositor whose funds the attacker would steal
  const victim = w.wallets[2];
  await send(token.mint(victim.address, 500n * USD));
  await send((token.connect(victim) as Contract).approve(market.target, MaxUint256));
  await send((market.connect(victim) as Contract).deposit(500n * USD));
});
afterAll(async () => {
  await w?.anvil.stop();
});
let snap: string;
beforeEach(async () => {
  snap = await snapshot(w.provider);
});
afterEach(async () => {
  await revert(w.provider, snap);
});

describe('reentrancy', () => {
  it('stops a receiver that re-enters withdraw from a token callback: it gets back exactly its deposit, once', async () => {
    await send(token.mint(attacker.target, 100n * USD));
    await send(attacker.depositAll());
    expect(await market.balanceOf(attacker.target)).toBe(100n * USD);

    await send(attacker.attack(100n * USD, 3));

    // the callback fired and tried to re-enter; the guard refused it
    const reason = (await attacker.lastReentryError()) as string;
    expect(decodeContractError(reason)?.name).toBe('ReentrancyGuardReentrantCall');
    expect(await attacker.reentrySucceeded()).toBe(0n);
    expect(await token.balanceOf(attacker.target)).toBe(100n * USD);
    expect(await market.balanceOf(attacker.target)).toBe(0n);
    // the victim's deposit is intact and fully backed
    expect(await market.balanceOf(w.wallets[2].address)).toBe(500n * USD);
    expect(await token.balanceOf(market.target)).toBe(500n * USD);
  });

  it('refuses even a partial re-entrant withdrawal that the balance would cover', async () => {
    await send(token.mint(attacker.target, 100n * USD));
    await send(attacker.depositAll());
    await send(attacker.attack(40n * USD, 1)); // 60 would remain: a second 40 is covered, but still not re-entrant
    expect(decodeContractError((await attacker.lastReentryError()) as string)?.name).toBe('ReentrancyGuardReentrantCall');
    expect(await token.balanceOf(attacker.target)).toBe(40n * USD);
    expect(await market.balanceOf(attacker.target)).toBe(60n * USD);
    expect(await token.balanceOf(market.target)).toBe(560n * USD);
  });
});
