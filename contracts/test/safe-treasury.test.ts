/**
 * The protocol treasury as a 2-of-3 Safe (1.4.1, deployed locally at the canonical addresses): it collects the
 * market's fees and pays a verifier out of them with a MultiSend batch (withdraw from the market + transfer),
 * executed only at threshold; one signature never executes.
 */
import { waitForReceipt, safeAbi, type SafeInfrastructure, issuanceArgs } from '#chain';
import { SafeKit, createSafe, deploySafeInfrastructure, increaseTime } from '#devchain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaTransactionData, OperationType } from '@safe-global/types-kit';
import { Contract, MaxUint256, id as keccakId } from 'ethers';
import { ALL_MODALITIES, ALL_STATES, USD, send, startWorld, type World } from './fixture.js';

const Safe = SafeKit;
let w: World;
let network: SafeInfrastructure;
let safeAddress: string;

beforeAll(async () => {
  w = await startWorld();
  network = await deploySafeInfrastructure(w.owner);
});
afterAll(async () => {
  await w?.anvil.stop();
});

const key = (i: number) => w.wallets[i].privateKey;
const kit = (signer: string) =>
  Safe.init({ provider: w.anvil.rpcUrl, signer, safeAddress, contractNetworks: { [String(w.deployment.chainId)]: network } });

describe('Safe treasury', () => {
  it('collects protocol fees into a 2-of-3 Safe and pays a verifier from them only with two owner signatures', async () => {
    const owners = [5, 6, 7].map((i) => w.wallets[i].address);
    safeAddress = await createSafe(w.owner, network, owners, 2);
    const safe = new Contract(safeAddress, safeAbi(), w.provider);
    expect(await safe.getThreshold()).toBe(2n);
    expect(await safe.getOwners()).toEqual(owners);

    // the Safe becomes the treasury; a study settles and its fee is credited to the Safe's market balance
    await send(w.c.market.setTreasury(safeAddress));
    const [ro, rad] = [w.wallets[2], w.wallets[3]];
    await send(
      w.as(w.verifier).registry.attest(rad.address, ALL_STATES, ALL_MODALITIES, BigInt(Math.floor(Date.now() / 1000) + 86400 * 365)),
    );
    await send(w.c.token.mint(ro.address, 1_000n * USD));
    await send(w.as(ro).token.approve(w.deployment.market, MaxUint256));
    await send(w.as(ro).market.deposit(200n * USD));
    const studyId = keccakId('safe-study');
    await send(w.as(ro).market.postStudy(studyId, 1, 15000, 1, 4, 200n * USD, ...issuanceArgs(w.issue(ro.address, studyId))));
    await send(w.as(rad).market.claim(studyId));
    await send(w.as(rad).market.submitReport(studyId, keccakId('safe-report')));
    await increaseTime(w.provider, 24 * 3600);
    await send(w.as(rad).market.settle(studyId));
    const fees = (await w.c.market.balanceOf(safeAddress)) as bigint;
    expect(fees).toBeGreaterThan(0n);

    // payout to a verifier: withdraw the fees from the market, transfer them, in one MultiSend batch
    const verifier = w.wallets[8].address;
    const batch: MetaTransactionData[] = [
      {
        to: w.deployment.market,
        value: '0',
        data: w.c.market.interface.encodeFunctionData('withdraw', [fees]),
        operation: OperationType.Call,
      },
      {
        to: w.deployment.token,
        value: '0',
        data: w.c.token.interface.encodeFunctionData('transfer', [verifier, fees]),
        operation: OperationType.Call,
      },
    ];
    const alice = await kit(key(5));
    const tx = await alice.createTransaction({ transactions: batch });
    const signedByAlice = await alice.signTransaction(tx);

    // one signature (k − 1) cannot execute: refused by the kit, and on chain by the Safe itself (GS020: signatures too short)
    await expect(alice.executeTransaction(signedByAlice)).rejects.toThrow();
    const d = signedByAlice.data;
    const execWith = (signatures: string) =>
      (safe.connect(w.wallets[9]) as Contract).execTransaction(
        d.to,
        d.value,
        d.data,
        d.operation,
        d.safeTxGas,
        d.baseGas,
        d.gasPrice,
        d.gasToken,
        d.refundReceiver,
        signatures,
      );
    await expect(execWith(signedByAlice.encodedSignatures())).rejects.toThrow(/GS020/);
    expect(await w.c.token.balanceOf(verifier)).toBe(0n);

    const bob = await kit(key(6));
    const signedByBoth = await bob.signTransaction(signedByAlice);
    expect(await bob.isValidTransaction(signedByBoth)).toBe(true);
    // anyone may submit once the threshold is met (here: a non-owner relayer pays the gas)
    const relayer = await kit(key(9));
    const result = await relayer.executeTransaction(signedByBoth);
    expect((await waitForReceipt(w.provider, result.hash))?.status).toBe(1);
    expect(await w.c.token.balanceOf(verifier)).toBe(fees);
    expect(await w.c.market.balanceOf(safeAddress)).toBe(0n);
    expect(await safe.nonce()).toBe(1n);
    // the same signed transaction cannot run again: the Safe's nonce moved on, so the signatures no longer match (GS026)
    await expect(execWith(signedByBoth.encodedSignatures())).rejects.toThrow(/GS026/);
  });
});
